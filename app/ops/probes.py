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

from collections.abc import Sequence

from fastapi.routing import APIRoute
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
    """`routes` is the app's own list, looked in at the first request: the middleware is added
    before the routers are included."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app, self.routes = app, routes
        self.route: APIRoute | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.route is None:
            self.route = healthz_route(self.routes)
        if (
            self.route is None
            or scope["type"] != "http"
            or scope["path"] != PATH
            or scope["method"] != "GET"
            or scope.get("root_path")
            or any(k in (b"content-length", b"transfer-encoding") for k, _ in scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route  # what route matching would have set
        await send({"type": "http.response.start", "status": 200, "headers": list(HEADERS)})
        await send({"type": "http.response.body", "body": BODY})


def healthz_route(routes: Sequence[BaseRoute]) -> APIRoute | None:
    """The declared `GET /healthz` route, when the app has it."""
    for route in routes:
        if isinstance(route, APIRoute) and route.path == PATH and "GET" in (route.methods or ()):
            return route
    return None
