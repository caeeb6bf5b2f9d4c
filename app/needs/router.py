"""HTTP routes for needs: thin, the rules live in the service."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.core.deps import SessionDep
from app.core.errors import Invalid, problems
from app.core.etag import IfMatch, etag, parse_if_match
from app.core.pagination import Cursor, Limit, Page
from app.geo import MAX_RADIUS_KM
from app.members.deps import CurrentMember, OptionalMember
from app.needs import service
from app.needs.models import NeedCreate, NeedOwner, NeedStatus, NeedUpdate, NeedView
from app.needs.views import render, render_owner
from app.spatial import RadiusQuery
from app.vocab import Category, Mode, Urgency

router = APIRouter(prefix="/needs", tags=["needs"])


@router.post("", status_code=201, response_model=NeedOwner, responses=problems(401, 422))
async def create_need(
    data: NeedCreate, member: CurrentMember, session: SessionDep, response: Response
) -> NeedOwner:
    """Ask for help. The exact location, address and contact are shown only to you and to
    volunteers you accept; everyone else sees the centre of a ~1 km cell."""
    need = await service.create_need(session, requester=member, data=data)
    response.headers["ETag"] = etag(need.version)
    response.headers["Location"] = f"/v1/needs/{need.id}"
    return render_owner(need)


def _near(near: str | None, radius_km: float | None) -> RadiusQuery | None:
    if near is None:
        if radius_km is not None:
            raise Invalid("radius_km needs near.", loc=["query", "radius_km"])
        return None
    try:
        lat_s, lon_s = near.split(",")
        lat, lon = float(lat_s), float(lon_s)
    except ValueError:
        raise Invalid("near must be '<lat>,<lon>'.", loc=["query", "near"]) from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise Invalid("near is outside the range of latitude and longitude.", loc=["query", "near"])
    return RadiusQuery(lat=lat, lon=lon, radius_km=10.0 if radius_km is None else radius_km)


@router.get("", response_model=Page[NeedView], responses=problems(401, 422))
async def list_needs(
    session: SessionDep,
    viewer: OptionalMember,
    category: Category | None = None,
    status: NeedStatus | None = None,
    urgency: Urgency | None = None,
    mode: Mode | None = None,
    near: Annotated[
        str | None,
        Query(description="`<lat>,<lon>`: nearest first, within radius_km.", examples=["51.5074,-0.1278"]),
    ] = None,
    radius_km: Annotated[float | None, Query(gt=0, le=MAX_RADIUS_KM, description="Default 10.")] = None,
    organization_id: uuid.UUID | None = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Page[NeedView]:
    """Needs you may see. Anonymous callers and other members get the public view."""
    filters = service.NeedFilters(
        category=category,
        status=status,
        urgency=urgency,
        mode=mode,
        organization_id=organization_id,
        near=_near(near, radius_km),
    )
    rows, next_cursor = await service.list_needs(
        session, viewer=viewer, filters=filters, limit=limit, cursor=cursor
    )
    return Page[NeedView](items=[render(n, role, d) for n, role, d in rows], next_cursor=next_cursor)


@router.get("/{need_id}", response_model=NeedView, responses=problems(401, 404, 422))
async def get_need(
    need_id: uuid.UUID, session: SessionDep, viewer: OptionalMember, response: Response
) -> NeedView:
    need, role = await service.get_visible_need(session, need_id=need_id, viewer=viewer)
    response.headers["ETag"] = etag(need.version)
    return render(need, role)


@router.patch("/{need_id}", response_model=NeedOwner, responses=problems(401, 403, 404, 409, 412, 422))
async def update_need(
    need_id: uuid.UUID,
    data: NeedUpdate,
    member: CurrentMember,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> NeedOwner:
    """Change your need. Send `If-Match` with the ETag you read to avoid overwriting a change."""
    need = await service.get_owned_need(session, need_id=need_id, viewer=member)
    need = await service.update_need(session, need=need, data=data, if_match=parse_if_match(if_match))
    response.headers["ETag"] = etag(need.version)
    return render_owner(need)


@router.post("/{need_id}/cancel", response_model=NeedOwner, responses=problems(401, 403, 404, 409, 422))
async def cancel_need(
    need_id: uuid.UUID, member: CurrentMember, session: SessionDep, response: Response
) -> NeedOwner:
    need = await service.get_owned_need(session, need_id=need_id, viewer=member)
    need = await service.cancel_need(session, need=need)
    response.headers["ETag"] = etag(need.version)
    return render_owner(need)
