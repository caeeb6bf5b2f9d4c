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
            app.openapi_schema = problem_responses(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
