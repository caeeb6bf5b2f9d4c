"""The Idempotency-Key header in the OpenAPI schema of every POST under /v1, present and future.

The dependency reads the header from the request rather than declaring it, or it would show on
every GET and PATCH too; so the schema gets it here, once the app knows all its routes.
"""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
EXTENSION = "x-idempotency-key"
# For routes whose response must never be kept (a login's access token): the header is ignored.
NOT_STORED: dict[str, Any] = {EXTENSION: "ignored"}


def stored_for(operation_extra: dict[str, Any] | None) -> bool:
    return not (operation_extra and operation_extra.get(EXTENSION) == NOT_STORED[EXTENSION])


def _parameter(ttl_hours: int) -> dict[str, Any]:
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
        "description": (
            "Makes retrying this POST safe. The first request with a key runs; a repeat with the "
            "same key and the same request (method, path, query and body) gets the first response's "
            "status and `Location`, with `Idempotent-Replayed: true`, showing only what the caller may "
            "see now: the resource as it stands (audited like a read), or a 409 when the first outcome "
            "no longer holds (the match has moved on, the caller lost the role). 1 to 255 "
            "printable ASCII characters "
            f"(a random UUID is ideal), scoped to the caller and kept {ttl_hours} hours. The same key "
            "with a different request is a 422; a repeat while the first still runs waits for it, or "
            "gets a 409 with `Retry-After`. A 5xx or 422 response is not kept, so the key may be "
            "retried. Anonymous calls (sign-up) run as usual and are not kept."
        ),
    }


_REPLAYED = {
    "description": "`true` when this response is the stored one of an earlier request with the same key.",
    "schema": {"type": "string", "enum": ["true"]},
}
_RESPONSES = {
    "409": "A request with this Idempotency-Key is still running; retry after `Retry-After`",
    "422": "Invalid body, query or Idempotency-Key, or a key already used with a different request",
}


def _add_to(operation: dict[str, Any], parameter: dict[str, Any]) -> None:
    operation.setdefault("parameters", []).append(parameter)
    responses = operation.setdefault("responses", {})
    for status, description in _RESPONSES.items():
        responses.setdefault(
            status,
            {"description": description, "content": {"application/problem+json": {"schema": PROBLEM_REF}}},
        )
    for status, response in responses.items():
        if status.startswith("2"):
            response.setdefault("headers", {})["Idempotent-Replayed"] = _REPLAYED


def document(app: FastAPI, *, ttl_hours: int, prefix: str = "/v1/") -> None:
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()  # cached by FastAPI: the additions below are made once
        parameter = _parameter(ttl_hours)
        for path, item in schema.get("paths", {}).items():
            post = item.get("post")
            if path.startswith(prefix) and post and stored_for(post):
                _add_to(post, parameter)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
