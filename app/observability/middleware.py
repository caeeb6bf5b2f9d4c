"""One pure ASGI middleware per request: its id, its metrics and its log line.

Pure ASGI rather than BaseHTTPMiddleware, so streamed bodies and background tasks are not
buffered, and `X-Request-ID` is set on the response start itself (every response, errors
included; the 500 handler, which runs outside middleware, sets it from the request's state).
"""

import os
import re
import time
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bind_contextvars, reset_contextvars

from app.observability.logs import log_request
from app.observability.metrics import observe_request, requests_in_progress

# A caller's own id is kept when it is safe to echo and to log; anything else is replaced.
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
HEADER = "X-Request-ID"
_HEADER_KEY = HEADER.lower().encode()


def request_id_of(scope: Scope) -> str | None:
    state: dict[str, Any] = scope.get("state") or {}
    rid = state.get("request_id")
    return rid if isinstance(rid, str) else None


def response_started(scope: Scope) -> bool:
    """Whether the response has begun to leave: after that, nothing may replace it."""
    state: dict[str, Any] = scope.get("state") or {}
    return bool(state.get("response_started"))


def _route_template(scope: Scope) -> str:
    """`/v1/needs/{need_id}`. The matched route knows only its own part of the template: the
    prefixes of the routers it was included in are the leading, static, segments of the path."""
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    if not isinstance(template, str):
        return "unmatched"
    path = str(scope.get("path", ""))
    own = template.count("/")
    if path.count("/") <= own:
        return template
    return "/".join(path.split("/")[: path.count("/") - own + 1]) + template


class ObserveRequests:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Header names arrive lower-cased (ASGI): a scan of the raw list, not a Headers object.
        incoming = next((v for k, v in scope["headers"] if k == _HEADER_KEY), b"").decode("latin-1")
        # 32 random hex digits, as uuid4().hex gave, for a quarter of its time.
        rid = incoming if _SAFE_ID.fullmatch(incoming) else os.urandom(16).hex()
        scope.setdefault("state", {})["request_id"] = rid
        method = scope["method"]
        status = 500  # what the client gets if the app raises before answering
        answered: float | None = None  # when the last of the body went out

        async def send_with_id(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[HEADER] = rid
                scope["state"]["response_started"] = True
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                answered = time.perf_counter()

        started = time.perf_counter()
        running = requests_in_progress(method)
        running.inc()
        # Bound, then reset by its token to what it was: what structlog's `bound_contextvars`
        # does, without reading every bound variable back first (a fifth of the time).
        bound = bind_contextvars(request_id=rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            reset_contextvars(**bound)
            # Until the client had the whole answer: work the request left to run after it (the
            # nearby-need alerts, app.dispatch.fanout) is not the client's wait.
            elapsed = (answered or time.perf_counter()) - started
            running.dec()
            route = _route_template(scope)
            observe_request(method, route, status, elapsed)
            # The template, not the path: no ids, and never the query string (near=lat,lon).
            log_request(
                request_id=rid,
                method=method,
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
