"""HTTP hygiene every route shares: bodies of a bounded size and of the media type the route reads,
and the headers that keep private answers out of caches and every answer from being sniffed.

Starlette's own body limit answers in plain text and looks at Content-Length only once the app
reads the body; this one answers problem+json (RFC 9457) before anything reads a byte when the
declared length is too large, and counts streamed (chunked) bodies as they arrive.
"""

import email.message
from typing import Any

from fastapi import Request
from fastapi import params as fastapi_params
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import NOSNIFF, PROBLEM_JSON, problem_body

MAX_BODY_BYTES = 1024 * 1024  # 1 MiB: a batch of 500 needs fits many times over
FORM = "application/x-www-form-urlencoded"
TOO_LARGE = f"The request body is larger than {MAX_BODY_BYTES} bytes (1 MiB)."


class BodyTooLarge(HTTPException):
    """Raised from `receive`: an HTTPException, so FastAPI's body reader passes it on unchanged."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail=TOO_LARGE)


class UnsupportedMediaType(HTTPException):
    def __init__(self, detail: str) -> None:
        super().__init__(status_code=415, detail=detail)


async def _problem(scope: Scope, send: Send, status: int, detail: str) -> None:
    body = problem_body(status, detail, instance=scope.get("path")).model_dump_json(exclude_none=True)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),  # the rest of the body is never read
            ],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})


class LimitBodies:
    """413 before the app runs when Content-Length says too much; otherwise counts what arrives,
    and whatever the app then does with the error, the client gets the 413."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = (
            next((v for k, v in scope["headers"] if k == b"content-length"), b"").decode("latin-1") or None
        )
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _problem(scope, send, 413, TOO_LARGE)
            return
        seen, exceeded, started = 0, False, False

        async def counted() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    exceeded = True
                    raise BodyTooLarge()
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                if exceeded and message["status"] != 413:
                    raise BodyTooLarge()  # an answer built from a body cut short: not this one
                started = True
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except BodyTooLarge:
            if started:
                raise
            await _problem(scope, send, 413, TOO_LARGE)


def _media_type(request: Request) -> str | None:
    value = request.headers.get("content-type")
    if not value:
        return None
    message = email.message.Message()
    message["content-type"] = value
    return message.get_content_type()


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return "transfer-encoding" in request.headers or (length is not None and length not in ("", "0"))


def is_json(media_type: str | None) -> bool:
    return media_type is not None and (
        media_type == "application/json"
        or (media_type.startswith("application/") and media_type.endswith("+json"))
    )


async def body_media_type(request: Request) -> None:
    """A dependency of every route: a body must be of the type the route reads (RFC 9110 15.5.16),
    so a JSON body sent as text/plain hears 415 rather than "not a valid dictionary"."""
    body_field: Any = getattr(request.scope.get("route"), "body_field", None)
    if body_field is None or not _has_body(request):
        return
    media_type = _media_type(request)
    if isinstance(body_field.field_info, fastapi_params.Form):
        if media_type not in (FORM, "multipart/form-data"):
            raise UnsupportedMediaType(
                f"This endpoint takes {FORM} (for a login: username=<email>&password=<password>), "
                f"not {media_type or 'a body without a Content-Type'}."
            )
    elif not is_json(media_type):
        raise UnsupportedMediaType(
            "This endpoint takes JSON: send Content-Type: application/json (or a +json type), "
            f"not {media_type or 'a body without a Content-Type'}."
        )


# Paths whose answer is private whoever asks, with or without a credential.
# Sign-up answers with the new member's private view before any credential exists; a calendar
# feed's URL is its own credential.
_PRIVATE_PATHS = ("/v1/auth/", "/v1/members", "/v1/calendar/")


class SecurityHeaders:
    """Every answer: `X-Content-Type-Options: nosniff`. Answers to a caller with a credential
    (owner and participant views, members/me, exports, audit, keys) and token answers:
    `Cache-Control: no-store`, unless the route chose its own; a cache shared by several callers
    must never hand one caller's private view to another."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = any(k == b"authorization" for k, _ in scope["headers"]) or scope["path"].startswith(
            _PRIVATE_PATHS
        )

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", NOSNIFF)
                if private:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, stamped)


def declare_body_problems(document: dict[str, Any]) -> dict[str, Any]:
    """413 and 415 on every operation that takes a body, as problem+json."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if "requestBody" not in operation:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in (
                ("413", "The body is larger than 1 MiB"),
                ("415", "The body is not of the media type this operation reads"),
            ):
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
                    },
                )
    return document
