"""Liveness and readiness probes for orchestrators."""

from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy import text

from app.core.deps import SessionDep
from app.core.errors import Unavailable, problems
from app.observability.metrics import exposition


class Health(BaseModel):
    status: str


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


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Metrics"}},
)
async def metrics() -> Response:
    """Prometheus text format: requests, latencies and in-flight requests by route template."""
    body, content_type = exposition()
    return Response(body, media_type=content_type)
