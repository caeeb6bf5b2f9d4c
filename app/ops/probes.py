"""`GET /healthz` answered without the route machinery: orchestrators ask it several times a
second per process, and it says only that the process is up.

The route stays declared in app/ops/router.py (the OpenAPI document, and any method but GET,
go through it); this layer, inside the request id, metrics, log line, security headers and
CORS, answers a plain GET with the very bytes that route sends, skipping the body limit, the
idempotency layer, FastAPI's exception and exit-stack layers, route matching and the response
model's validation and serialisation. It sets the request's `route` to the declared route, so
metrics and the log line name `/healthz` as before. A GET that announces a body goes the long
way, so the body limit still answers it. tests/core/test_ops.py checks both ways agree.
"""

from pydantic import BaseModel
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send


class Health(BaseModel):
    """What both probes answer (app/ops/router.py declares them)."""

    status: str


PATH = "/healthz"
BODY = Health(status="ok").model_dump_json().encode()
HEADERS = [(b"content-length", str(len(BODY)).encode()), (b"content-type", b"application/json")]


class FastHealthz:
    """The route is learnt from the first plain GET /healthz, which goes the long way: the one
    FastAPI matched, so metrics and the log line name it as they always did."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.route: BaseRoute | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != PATH
            or scope["method"] != "GET"
            or scope.get("root_path")
            or any(k in (b"content-length", b"transfer-encoding") for k, _ in scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        route = self.route
        if route is None:
            await self.app(scope, receive, send)
            found = scope.get("route")
            if isinstance(found, BaseRoute) and getattr(found, "path_format", None) == PATH:
                self.route = found
            return
        scope["route"] = route  # what route matching would have set
        await send({"type": "http.response.start", "status": 200, "headers": list(HEADERS)})
        await send({"type": "http.response.body", "body": BODY})
