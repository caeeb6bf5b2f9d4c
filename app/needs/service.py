"""Need rules: create, read with the right view, list and search, update, cancel."""

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import Conflict, Forbidden, Invalid, NotFound, PreconditionFailed
from app.core.pagination import (
    decode_cursor,
    decode_time_cursor,
    decode_uuid,
    encode_cursor,
    encode_time_cursor,
)
from app.core.timeutil import utcnow
from app.geo import located
from app.members.models import Member
from app.needs.models import Need, NeedCreate, NeedStatus, NeedUpdate, Visibility
from app.needs.views import OWNER, PUBLIC, effective_status
from app.spatial import RadiusQuery, within_sql

_LOCATED_FIELDS = ("lat", "lon", "approx_lat", "approx_lon", "h3_r4", "h3_r6", "h3_r8")
EDITABLE = (NeedStatus.open, NeedStatus.matched)


def _location_columns(lat: float | None, lon: float | None) -> dict[str, Any]:
    return dict.fromkeys(_LOCATED_FIELDS) if lat is None or lon is None else located(lat, lon)


def _flatten(data: dict[str, Any]) -> dict[str, Any]:
    """Body fields to columns: location and contact become their column pairs."""
    out = {k: v for k, v in data.items() if k not in ("location", "contact")}
    if "location" in data:
        loc = data["location"]
        out.update(_location_columns(loc["lat"], loc["lon"]) if loc else _location_columns(None, None))
    if "contact" in data:
        contact = data["contact"]
        out["contact_name"] = contact["name"] if contact else None
        out["contact_phone"] = contact["phone"] if contact else None
    return out


async def _check_organization(organization_id: uuid.UUID | None) -> None:
    # Organisations arrive with partner access; until a caller coordinates one, none is theirs.
    if organization_id is not None:
        raise Invalid(
            "Unknown organization, or you are not its coordinator.", loc=["body", "organization_id"]
        )


async def create_need(session: AsyncSession, *, requester: Member, data: NeedCreate) -> Need:
    if data.window_end is not None and data.window_end <= utcnow():
        raise Invalid("window_end is in the past.", loc=["body", "window_end"])
    await _check_organization(data.organization_id)
    need = Need(requester_id=requester.id, **_flatten(data.model_dump()))
    session.add(need)
    await session.commit()
    return need


def role_of(need: Need, viewer: Member | None) -> str | None:
    """The caller's view of a need, or None when it must not exist for them."""
    if viewer is not None and need.requester_id == viewer.id:
        return OWNER
    if need.visibility == Visibility.public:
        return PUBLIC
    return None


async def get_visible_need(
    session: AsyncSession, *, need_id: uuid.UUID, viewer: Member | None
) -> tuple[Need, str]:
    need = await session.get(Need, need_id)
    role = role_of(need, viewer) if need is not None else None
    if need is None or role is None:
        raise NotFound("No such need.")
    return need, role


async def get_owned_need(session: AsyncSession, *, need_id: uuid.UUID, viewer: Member) -> Need:
    need, role = await get_visible_need(session, need_id=need_id, viewer=viewer)
    if role != OWNER:
        raise Forbidden("Only the need's owner can change it.")
    return need


@dataclass(frozen=True)
class NeedFilters:
    category: str | None = None
    status: str | None = None
    urgency: str | None = None
    mode: str | None = None
    organization_id: uuid.UUID | None = None
    near: RadiusQuery | None = None


def _status_filter(status: str) -> ColumnElement[bool]:
    now = utcnow()
    closed = and_(col(Need.window_end).is_not(None), col(Need.window_end) <= now)
    if status == NeedStatus.open:
        return and_(col(Need.status) == NeedStatus.open, ~closed)
    if status == NeedStatus.expired:
        return or_(col(Need.status) == NeedStatus.expired, and_(col(Need.status) == NeedStatus.open, closed))
    return col(Need.status) == status


def _visible_to(viewer: Member | None) -> ColumnElement[bool]:
    public = col(Need.visibility) == Visibility.public
    return or_(public, col(Need.requester_id) == viewer.id) if viewer is not None else public


async def list_needs(
    session: AsyncSession, *, viewer: Member | None, filters: NeedFilters, limit: int, cursor: str | None
) -> tuple[list[tuple[Need, str, float | None]], str | None]:
    """A page of needs the viewer may see: nearest first with `near`, else newest first."""
    conditions: list[ColumnElement[bool]] = [_visible_to(viewer)]
    for name in ("category", "urgency", "mode", "organization_id"):
        value = getattr(filters, name)
        if value is not None:
            conditions.append(getattr(Need, name) == value)
    if filters.status is not None:
        conditions.append(_status_filter(filters.status))

    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    if filters.near is not None:
        within, distance = within_sql(Need, filters.near, dialect)
        conditions.append(within)
        if cursor:
            d, last_id = decode_cursor(cursor, "d", 2)
            if not isinstance(d, float | int):
                raise Invalid("The cursor is not valid for this query.", loc=["query", "cursor"])
            conditions.append(or_(distance > d, and_(distance == d, col(Need.id) > decode_uuid(last_id))))
        stmt = select(Need, distance.label("d")).where(*conditions).order_by(distance, col(Need.id))
        rows: list[tuple[Need, float | None]] = [
            (n, d) for n, d in (await session.exec(stmt.limit(limit + 1))).all()
        ]
    else:
        if cursor:
            at, last = decode_time_cursor(cursor)
            conditions.append(
                or_(col(Need.created_at) < at, and_(col(Need.created_at) == at, col(Need.id) < last))
            )
        by_time = select(Need).where(*conditions).order_by(col(Need.created_at).desc(), col(Need.id).desc())
        rows = [(n, None) for n in (await session.exec(by_time.limit(limit + 1))).all()]
    page = [(need, role_of(need, viewer) or PUBLIC, d) for need, d in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last_need, last_d = rows[limit - 1]
        next_cursor = (
            encode_cursor("d", last_d, str(last_need.id))
            if filters.near is not None
            else encode_time_cursor(last_need.created_at, last_need.id)
        )
    return page, next_cursor


async def _conditional_update(
    session: AsyncSession, need: Need, values: dict[str, Any], if_match: int | None
) -> Need:
    """UPDATE ... WHERE version = seen: the database, not Python, decides who wins a race."""
    seen = need.version
    if if_match is not None and if_match != seen:
        raise PreconditionFailed("The need has changed since you read it; fetch it again.")
    values = {**values, "version": seen + 1, "updated_at": utcnow()}
    result = await session.exec(
        update(Need).where(col(Need.id) == need.id, col(Need.version) == seen).values(**values)
    )
    if result.rowcount != 1:
        await session.rollback()
        if if_match is not None:
            raise PreconditionFailed("The need has changed since you read it; fetch it again.")
        raise Conflict("The need was changed by someone else at the same moment; try again.")
    await session.commit()
    await session.refresh(need)
    return need


async def update_need(session: AsyncSession, *, need: Need, data: NeedUpdate, if_match: int | None) -> Need:
    changes = data.model_dump(mode="json", exclude_unset=True)
    for required in (
        "category",
        "title",
        "urgency",
        "mode",
        "volunteers_needed",
        "languages",
        "requirements",
        "visibility",
    ):
        if required in changes and changes[required] is None:
            raise Invalid(f"{required} cannot be null.", loc=["body", required])
    if effective_status(need) not in EDITABLE:
        raise Conflict(f"A {effective_status(need)} need cannot be changed.")
    merged = NeedUpdate.model_validate(
        {
            "mode": need.mode,
            "location": {"lat": need.lat, "lon": need.lon} if need.lat is not None else None,
            "window_start": need.window_start,
            "window_end": need.window_end,
            **changes,
        }
    )
    try:
        merged.check_shape()
    except ValueError as exc:
        raise Invalid(str(exc), loc=["body"]) from None
    if "window_end" in changes and merged.window_end is not None and merged.window_end <= utcnow():
        raise Invalid("window_end is in the past.", loc=["body", "window_end"])
    if changes.get("visibility") == Visibility.organization and need.organization_id is None:
        raise Invalid(
            "visibility=organization needs the need to belong to an organization.", loc=["body", "visibility"]
        )
    if "volunteers_needed" in changes and changes["volunteers_needed"] < need.volunteers_accepted:
        raise Conflict("volunteers_needed cannot drop below the volunteers already accepted.")
    values = _flatten(changes)
    for field in ("window_start", "window_end"):
        if field in changes:
            values[field] = getattr(merged, field)
    return await _conditional_update(session, need, values, if_match)


async def cancel_need(session: AsyncSession, *, need: Need) -> Need:
    status = effective_status(need)
    if status not in EDITABLE:
        raise Conflict(f"A {status} need cannot be cancelled.")
    return await _conditional_update(session, need, {"status": NeedStatus.cancelled}, None)
