"""Liveness and readiness probes for orchestrators."""

import hmac

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import text

from app.core.deps import SessionDep, SettingsDep
from app.core.errors import Unauthorized, Unavailable, problems
from app.observability.metrics import exposition
from app.ops.probes import Health

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses=problems(503))
async def readyz(session: SessionDep) -> Health:
    """The database answers."""
    try:
        await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
    except Exception:
        raise Unavailable("The database is not reachable.", headers={"Retry-After": "5"}) from None
    return Health(status="ok")


async def _scraper(request: Request, settings: SettingsDep) -> None:
    """When METRICS_TOKEN is set, only `Authorization: Bearer <METRICS_TOKEN>` may read the
    metrics (RFC 6750); compared in constant time, so the answer's timing tells nothing of it."""
    if settings.metrics_token is None:
        return
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    expected = settings.metrics_token.get_secret_value()
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), expected.encode()):
        raise Unauthorized("The metrics need `Authorization: Bearer <METRICS_TOKEN>`.")


@router.get(
    "/metrics",
    response_class=Response,
    dependencies=[Depends(_scraper)],
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Metrics"},
        **problems(401),
    },
)
async def metrics() -> Response:
    """Prometheus text format: requests, latencies and in-flight requests by route template.
    Open unless the deployment sets METRICS_TOKEN; then 401 without `Authorization: Bearer`
    and that token."""
    body, content_type = exposition()
    return Response(body, media_type=content_type)
