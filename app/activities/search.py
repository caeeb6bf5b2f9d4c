"""Listing activities: filters, radius search (app.spatial, both databases) and keyset pages."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.activities.models import Activity, ActivityStatus, Participant
from app.activities.places import CONFIRMED
from app.activities.service import hosts, visible_sql
from app.activities.views import HOST, PARTICIPANT, PUBLIC
from app.auth.callers import Caller
from app.core.pagination import (
    decode_distance_cursor,
    decode_time_cursor,
    encode_cursor,
    encode_time_cursor,
)
from app.core.timeutil import utcnow
from app.spatial import RadiusQuery, nearest_first
from app.vocab import Accessibility, mask


@dataclass(frozen=True)
class ActivityFilters:
    near: RadiusQuery | None = None
    start: datetime | None = None  # `from`: the series has not ended by then (default now)
    end: datetime | None = None  # `to`: the series begins before then
    kind: str | None = None
    mode: str | None = None
    accessibility: tuple[str, ...] = ()  # all of them


@dataclass(frozen=True)
class Listed:
    activity: Activity
    role: str
    my_status: str | None
    distance_km: float | None


def _conditions(filters: ActivityFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        col(Activity.status) == ActivityStatus.open,
        col(Activity.last_ends_at) > (filters.start or utcnow()),
    ]
    if filters.end is not None:
        conditions.append(col(Activity.starts_at) < filters.end)
    if filters.kind is not None:
        conditions.append(col(Activity.kind) == filters.kind)
    if filters.mode is not None:
        conditions.append(col(Activity.mode) == filters.mode)
    if filters.accessibility:
        wanted = mask(list(filters.accessibility), Accessibility)
        conditions.append(col(Activity.accessibility_mask).op("&")(wanted) == wanted)
    return conditions


async def _mine(session: AsyncSession, caller: Caller, activity_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    if caller.member_id is None or not activity_ids:
        return {}
    stmt = select(Participant.activity_id, Participant.status).where(
        col(Participant.member_id) == caller.member_id, col(Participant.activity_id).in_(activity_ids)
    )
    return dict((await session.exec(stmt)).all())


async def list_activities(
    session: AsyncSession, *, caller: Caller, filters: ActivityFilters, limit: int, cursor: str | None
) -> tuple[list[Listed], str | None]:
    """Open activities not yet over that the caller may see (`service.may_see`: not a host blocked
    either way with them, nor one a suspended member hosts for themselves):
    nearest first with `near` (distance from the public stand-in point), else soonest first (by
    first start)."""
    conditions = [*_conditions(filters), *visible_sql(caller.member_id, utcnow())]
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    if filters.near is not None:
        after = decode_distance_cursor(cursor) if cursor else None
        stmt = nearest_first(Activity, filters.near, dialect, conditions, after, limit + 1)
        rows: list[tuple[Activity, float | None]] = [
            (a, float(d)) for a, d in (await session.exec(stmt)).all()
        ]
    else:
        if cursor:
            when, last_id = decode_time_cursor(cursor)
            starts = col(Activity.starts_at)
            conditions.append(or_(starts > when, and_(starts == when, col(Activity.id) > last_id)))
        by_time = select(Activity).where(*conditions).order_by(col(Activity.starts_at), col(Activity.id))
        rows = [(a, None) for a in (await session.exec(by_time.limit(limit + 1))).all()]
    page = rows[:limit]
    mine = await _mine(session, caller, [a.id for a, _ in page])
    listed = [Listed(a, _role(a, caller, mine.get(a.id)), mine.get(a.id), d) for a, d in page]
    next_cursor = None
    if len(rows) > limit:
        last, last_d = rows[limit - 1]
        next_cursor = (
            encode_cursor("d", last_d, str(last.id))
            if last_d is not None
            else encode_time_cursor(last.starts_at, last.id)
        )
    return listed, next_cursor


def _role(activity: Activity, caller: Caller, my_status: str | None) -> str:
    if hosts(activity, caller):
        return HOST
    return PARTICIPANT if my_status == CONFIRMED else PUBLIC
