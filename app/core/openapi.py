"""The OpenAPI document FastAPI generates, made to say what the app really answers.

FastAPI documents every error body as `application/json`, and adds its own 422 shape
(`HTTPValidationError`) wherever a route takes input. The app answers every error with
`application/problem+json` in the `Problem` shape, so clients and contract tests that trust
the document would be misled. This rewrites each 4xx/5xx response once, when the document
is first built.
"""

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
    schemas = document.get("components", {}).get("schemas", {})
    for name in _FASTAPI_422_SCHEMAS:
        schemas.pop(name, None)
    return document


def install_openapi(app: FastAPI) -> None:
    """Build the document once, on first request, with the error responses rewritten."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = declare_body_problems(problem_responses(generate()))
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
