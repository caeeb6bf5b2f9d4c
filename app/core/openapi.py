"""The OpenAPI document FastAPI generates, made to say what the app really answers.

FastAPI documents every error body as `application/json`, and adds its own 422 shape
(`HTTPValidationError`) wherever a route takes input. The app answers every error with
`application/problem+json` in the `Problem` shape, so clients and contract tests that trust
the document would be misled. This rewrites each 4xx/5xx response once, when the document
is first built; it also gives every schema a name a generated client can use as a file and
class name, and declares the response headers clients rely on.
"""

import re
from typing import Any

from fastapi import FastAPI

from app.core.errors import PROBLEM_JSON
from app.core.http import declare_body_problems

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_FASTAPI_422_SCHEMAS = ("HTTPValidationError", "ValidationError")


def _is_error(status: str) -> bool:
    return status[0] in "45"


def problem_responses(document: dict[str, Any]) -> dict[str, Any]:
    """Every error response of every operation as problem+json with the Problem schema."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if _is_error(status):
                    response["content"] = {PROBLEM_JSON: {"schema": dict(PROBLEM_REF)}}
    for operations in document.get("webhooks", {}).values():
        for operation in operations.values():
            # FastAPI's 422 here would describe the subscriber's server, which we know nothing of
            # (each event's description says how its answer is read); it also names a schema
            # removed below, and generators stop on the dangling reference.
            operation.get("responses", {}).pop("422", None)
    schemas = document.get("components", {}).get("schemas", {})
    for name in _FASTAPI_422_SCHEMAS:
        schemas.pop(name, None)
    return document


# The contract: generated clients turn schema names into file and class names.
SCHEMA_NAME = re.compile(r"[A-Za-z0-9_]{1,60}")
# FastAPI names a form body after its route; the name is the type's name in generated clients.
_RENAMED = {"Body_login": "LoginForm"}
SCHEMA_REF = "#/components/schemas/"


def _rewrite_refs(node: Any, renamed: dict[str, str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(SCHEMA_REF):
            name = ref.removeprefix(SCHEMA_REF)
            node["$ref"] = SCHEMA_REF + renamed.get(name, name)
        for value in node.values():
            _rewrite_refs(value, renamed)
    elif isinstance(node, list):
        for value in node:
            _rewrite_refs(value, renamed)


def schema_names(document: dict[str, Any]) -> dict[str, Any]:
    """Every schema under a deliberate name. Pydantic spells a generic model's schema name out of
    its whole type (`Page_Annotated_Union_NeedOwner__...`, hundreds of characters); its title is
    the name the model chose (`NeedPage`, see `Page`). Raises ValueError for a name that breaks
    the contract, so no such document is ever served."""
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    renamed = dict(_RENAMED)
    for name, schema in schemas.items():
        title = schema.get("title")
        if name not in renamed and title != name and isinstance(title, str) and SCHEMA_NAME.fullmatch(title):
            renamed[name] = title
    renamed = {old: new for old, new in renamed.items() if old in schemas}
    if len(set(renamed.values()) | (schemas.keys() - renamed.keys())) != len(schemas):
        raise ValueError(f"two schemas would share a name: {renamed}")
    document["components"]["schemas"] = {renamed.get(n, n): s for n, s in schemas.items()}
    for new in renamed.values():
        document["components"]["schemas"][new]["title"] = new
    _rewrite_refs(document, renamed)
    bad = [n for n in document["components"]["schemas"] if not SCHEMA_NAME.fullmatch(n)]
    if bad:
        raise ValueError(f"schema names must be 1..60 characters of [A-Za-z0-9_]: {bad}")
    return document


_INTEGER = {"type": "integer", "minimum": 0}
HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "This request's id in the service's logs: the caller's own `X-Request-ID` "
        "when it sent one of 1..128 characters of `[A-Za-z0-9._:-]`, else a new one. Quote it when "
        "reporting a problem.",
        "schema": {"type": "string", "maxLength": 128},
    },
    "RateLimit-Limit": {
        "description": "Requests this caller may make in the current window.",
        "schema": _INTEGER,
    },
    "RateLimit-Remaining": {
        "description": "Requests left in the current window.",
        "schema": _INTEGER,
    },
    "RateLimit-Reset": {
        "description": "Seconds until the window resets.",
        "schema": _INTEGER,
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying (RFC 9110, section 10.2.3).",
        "schema": _INTEGER,
    },
    "ETag": {
        "description": "The resource's version (RFC 9110), sent to its owner view: send it back in "
        "`If-Match` so a change made meanwhile is refused (412) instead of overwritten.",
        "schema": {"type": "string"},
    },
    "Location": {
        "description": "The URL of the resource this request created.",
        "schema": {"type": "string", "format": "uri-reference"},
    },
}
_RATE_LIMIT = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
# Responses showing one of these carry its row version as ETag (the owner view; other views
# would tell strangers when private fields changed, so they go without).
_VERSIONED = frozenset(
    {
        "NeedOwner",
        "NeedWritten",
        "NeedParticipant",
        "NeedPublic",
        "OfferOwner",
        "OfferOrganization",
        "MatchView",
    }
)


def _shows_versioned(response: dict[str, Any]) -> bool:
    for media in response.get("content", {}).values():
        schema = media.get("schema", {})
        refs = [schema, *schema.get("oneOf", []), *schema.get("anyOf", [])]
        names = {str(r.get("$ref", "")).removeprefix(SCHEMA_REF) for r in refs}
        if names & _VERSIONED:
            return True
    return False


def _headers_of(path: str, status: str, response: dict[str, Any]) -> list[str]:
    names = ["X-Request-ID"]
    rate_limited = path.startswith("/v1/") and (status.startswith("2") or status == "429")
    if rate_limited:
        names += _RATE_LIMIT
    if status in ("429", "503"):
        names.append("Retry-After")
    if status == "201":
        names.append("Location")
    if status.startswith("2") and _shows_versioned(response):
        names.append("ETag")
    return names


def response_headers(document: dict[str, Any]) -> dict[str, Any]:
    """Declare the headers the app sends: `X-Request-ID` on every response, `RateLimit-*` on
    /v1 successes and 429s, `Retry-After` on 429 and 503, `Location` on 201, `ETag` where a
    versioned resource is shown."""
    document.setdefault("components", {})["headers"] = HEADERS
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                declared = response.setdefault("headers", {})
                for name in _headers_of(path, status, response):
                    declared.setdefault(name, {"$ref": f"#/components/headers/{name}"})
    return document


def install_openapi(app: FastAPI) -> None:
    """Build the document once, on first request, with the error responses rewritten, the
    schemas named and the response headers declared."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = response_headers(
                schema_names(declare_body_problems(problem_responses(generate())))
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def link(
    operation_id: str, parameters: dict[str, str] | None = None, body: dict[str, str] | None = None
) -> dict[str, Any]:
    """An OpenAPI link: how a response feeds the next call (`parameters` and `body` map the
    target's inputs to runtime expressions such as `$response.body#/id`)."""
    target: dict[str, Any] = {"operationId": operation_id}
    if parameters:
        target["parameters"] = parameters
    if body:
        target["requestBody"] = body
    return target


def links(status: int, **named: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """`responses` entries for a route: its `status` response's links, by name."""
    return {status: {"links": named}}
