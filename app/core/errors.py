"""Domain errors and the one place that turns every error into problem+json (RFC 9457)."""

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.encryption import Unreadable
from app.observability.logs import get_logger
from app.observability.metrics import DATABASE_UNAVAILABLE
from app.observability.middleware import HEADER as REQUEST_ID_HEADER
from app.observability.middleware import request_id_of

log = get_logger(__name__)
PROBLEM_JSON = "application/problem+json"
NOSNIFF = "nosniff"  # X-Content-Type-Options on every answer (app.core.http.SecurityHeaders)
TYPE_BASE = "https://mutual-aid.example/problems/"


RULE = "rule"


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str = Field(
        description=f"`{RULE}` when the request keeps to the schema but breaks a rule the schema "
        "cannot state (a combination of fields, the current time, what the caller may do); "
        "otherwise the kind of schema violation (`missing`, `string_too_long`, ...)."
    )


class Problem(BaseModel):
    """An RFC 9457 problem detail; every 4xx and 5xx response has this shape."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None
    existing_id: str | None = Field(
        default=None, description="With a duplicate external_id: the need that has it."
    )
    reason: str | None = Field(
        default=None, description="With a refused match: the first filter the pair fails."
    )


class DomainError(Exception):
    status = 400
    slug = "bad-request"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers
        self.extra = extra


class Unauthorized(DomainError):
    status, slug = 401, "unauthorized"

    def __init__(self, detail: str = "Missing or invalid credentials.") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(DomainError):
    status, slug = 403, "forbidden"


class NotFound(DomainError):
    status, slug = 404, "not-found"


class Conflict(DomainError):
    status, slug = 409, "conflict"


class PreconditionFailed(DomainError):
    status, slug = 412, "precondition-failed"


class Unavailable(DomainError):
    status, slug = 503, "unavailable"


class Invalid(DomainError):
    """A request that keeps to the schema but breaks a rule; `loc` names the field."""

    status, slug = 422, "validation-error"

    def __init__(self, detail: str, *, loc: list[str | int]) -> None:
        super().__init__(detail)
        self.errors = [FieldError(loc=loc, msg=detail, type=RULE)]


_MEANINGS = {
    401: "No or bad credential",
    403: "Known caller, action not allowed",
    404: "Unknown, or not visible to you",
    409: "The resource's state does not allow this",
    412: "Stale If-Match: the resource has changed since you read it",
    422: "Invalid body or query",
    429: "Rate limited; retry after Retry-After seconds",
    503: "A dependency (the database) is unavailable; retry after Retry-After",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the problem statuses an operation can return."""
    return {s: {"model": Problem, "description": _MEANINGS[s]} for s in statuses}


def problem_body(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    errors: list[FieldError] | None = None,
    instance: str | None = None,
    **extra: Any,
) -> Problem:
    phrase = HTTPStatus(status).phrase
    return Problem(
        type=TYPE_BASE + (slug or phrase.lower().replace(" ", "-")),
        title=phrase,
        status=status,
        detail=detail,
        instance=instance,
        errors=errors,
        **extra,
    )


def problem_response(
    request: Request,
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = problem_body(status, detail, slug=slug, errors=errors, instance=request.url.path, **extra)
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def clean_validation_errors(raw: list[Any], prefix: tuple[str | int, ...] = ()) -> list[FieldError]:
    # Never echo `input`: it may be a password or a phone number.
    return [
        FieldError(loc=[*prefix, *e.get("loc", [])], msg=str(e.get("msg", "")), type=str(e.get("type", "")))
        for e in raw
    ]


async def _domain(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return problem_response(
        request,
        exc.status,
        exc.detail,
        slug=exc.slug,
        errors=getattr(exc, "errors", None),
        headers=exc.headers,
        **exc.extra,
    )


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = clean_validation_errors(list(exc.errors()))
    return problem_response(
        request, 422, "The request is invalid; see `errors`.", slug="validation-error", errors=errors
    )


def _allowed_methods(request: Request) -> str:
    """Every method the resource takes (RFC 9110 `Allow`): Starlette names only those of the
    first route whose path matched, so `/v1/needs/{id}` would leave out PATCH."""
    path, root = request.scope["path"], request.scope.get("root_path", "")
    if root and path.startswith(root):  # routes match the path below the mount point
        path = path[len(root) :]
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        pattern = getattr(route, "path_regex", None)
        if route.methods and pattern is not None and pattern.match(path):
            methods |= route.methods
    return ", ".join(sorted(methods))


_UNPARSABLE_BODY = "There was an error parsing the body"  # FastAPI's words for its 400


def _unparsable_body(request: Request, exc: Exception, detail: str) -> JSONResponse:
    """A body FastAPI or Starlette could not even parse (a form over the parser's limits, say)
    is an invalid body like any other: 422, the way it already answers malformed JSON, rather
    than a 400 the contract does not know."""
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):
        error = FieldError(loc=["body"], msg="JSON must be UTF-8 text.", type="json_invalid")
    elif detail != _UNPARSABLE_BODY:  # Starlette's form parser names the limit it hit
        error = FieldError(loc=["body"], msg=detail, type="body_invalid")
    elif isinstance(cause, StarletteHTTPException) and isinstance(cause.detail, str):
        error = FieldError(loc=["body"], msg=cause.detail, type="body_invalid")
    else:
        error = FieldError(loc=["body"], msg="The body could not be parsed.", type="body_invalid")
    return problem_response(
        request, 422, "The request is invalid; see `errors`.", slug="validation-error", errors=[error]
    )


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404 and detail == "Not Found":
        detail = "No such resource."
    if exc.status_code == 400:
        # The app raises domain errors, never a bare 400: this one is a body that did not parse.
        return _unparsable_body(request, exc, detail)
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    return problem_response(request, exc.status_code, detail, headers=headers)


def _outage_reason(exc: Exception) -> str:
    """An outage and contention both answer 503, but an operator must tell them apart."""
    if isinstance(exc, SQLAlchemyTimeoutError):
        return "pool_timeout"
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    if sqlstate == "57014":
        return "statement_timeout"
    if sqlstate in ("40001", "40P01"):
        return "contention"
    return "connection"


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    # Lost or exhausted connections are the database's outage, not a bug: say when to retry.
    if (
        isinstance(exc, DBAPIError)
        and not exc.connection_invalidated
        and not isinstance(exc, OperationalError)
    ):
        return await _unhandled(request, exc)
    reason = _outage_reason(exc)
    log.warning(
        "database unavailable",
        method=request.method,
        path=request.url.path,
        error=type(exc).__name__,
        reason=reason,
        sqlstate=getattr(getattr(exc, "orig", None), "sqlstate", None),
    )
    DATABASE_UNAVAILABLE.labels(reason).inc()
    return problem_response(
        request,
        503,
        "The database is unavailable; try again shortly.",
        slug="unavailable",
        headers={"Retry-After": "5"},
    )


async def _sealed_unreadable(request: Request, exc: Exception) -> JSONResponse:
    # A secret the service keeps (app.core.encryption) opens with none of DATA_ENCRYPTION_KEYS:
    # a key was dropped before `secrets rotate` re-sealed under the newest. The operator's to
    # mend; the caller is told the service cannot answer, not that it broke.
    log.error("a stored secret opens with no configured key", method=request.method, path=request.url.path)
    return problem_response(
        request,
        503,
        "The service cannot read a key it keeps; its operator has been told.",
        slug="unavailable",
        headers={"Retry-After": "300"},
    )


UNHANDLED_DETAIL = "Something went wrong on our side; it has been logged."


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    # This handler answers outside the middleware that stamps every other response.
    rid = request_id_of(request.scope)
    log.exception("unhandled error", method=request.method, path=request.url.path, request_id=rid)
    return problem_response(
        request,
        500,
        UNHANDLED_DETAIL,
        headers={"X-Content-Type-Options": NOSNIFF, **({REQUEST_ID_HEADER: rid} if rid else {})},
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(DBAPIError, _database_down)
    app.add_exception_handler(SQLAlchemyTimeoutError, _database_down)
    app.add_exception_handler(Unreadable, _sealed_unreadable)
    app.add_exception_handler(Exception, _unhandled)
