"""Listing and searching needs: filters, radius search and keyset pagination."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit import service as audit
from app.auth.callers import Caller
from app.core.crud import newest_first
from app.core.pagination import decode_distance_cursor, encode_cursor, encode_time_cursor
from app.core.timeutil import utcnow
from app.members.suspension import member_suspended
from app.needs.models import Need, NeedStatus, Visibility, closes_at_sql
from app.needs.service import role_of
from app.needs.views import PUBLIC
from app.safety import blocks
from app.spatial import RadiusQuery, nearest_first


@dataclass(frozen=True)
class NeedFilters:
    category: str | None = None
    status: str | None = None
    urgency: str | None = None
    mode: str | None = None
    organization_id: uuid.UUID | None = None
    near: RadiusQuery | None = None


def status_filter(status: str) -> ColumnElement[bool]:
    now = utcnow()
    closes = closes_at_sql()
    closed = and_(closes.is_not(None), closes <= now)
    if status == NeedStatus.open:
        return and_(col(Need.status) == NeedStatus.open, ~closed)
    if status == NeedStatus.expired:
        return or_(col(Need.status) == NeedStatus.expired, and_(col(Need.status) == NeedStatus.open, closed))
    return col(Need.status) == status


def listed_publicly(now: datetime) -> ColumnElement[bool]:
    """The public view's rule in SQL: a public need whose requester is not suspended at `now`
    (a suspended member's public needs are hidden from everyone but them and their organisation)."""
    return and_(col(Need.visibility) == Visibility.public, ~member_suspended(col(Need.requester_id), now))


def visible_sql(
    member_id: uuid.UUID | None, organizations: frozenset[uuid.UUID], now: datetime
) -> ColumnElement[bool]:
    """The needs a member (or a key, `member_id` None) acting for `organizations` may see, in
    SQL: every list, and the alert digest, ask this one rule."""
    seen = [listed_publicly(now)]
    if member_id is not None:
        seen.append(col(Need.requester_id) == member_id)
    if organizations:
        seen.append(col(Need.organization_id).in_(organizations))
    if member_id is None:
        return or_(*seen)
    # Whatever the caller's role: a requester they are blocked with is nobody to them.
    return and_(or_(*seen), blocks.not_blocked_with(col(Need.requester_id), member_id))


def _visible_to(caller: Caller) -> ColumnElement[bool]:
    return visible_sql(caller.member_id, caller.organizations(), utcnow())


async def list_needs(
    session: AsyncSession, *, caller: Caller, filters: NeedFilters, limit: int, cursor: str | None
) -> tuple[list[tuple[Need, str, float | None]], str | None]:
    """A page of needs the caller may see: nearest first with `near`, else newest first."""
    conditions: list[ColumnElement[bool]] = [_visible_to(caller)]
    for name in ("category", "urgency", "mode", "organization_id"):
        value = getattr(filters, name)
        if value is not None:
            conditions.append(getattr(Need, name) == value)
    if filters.status is not None:
        conditions.append(status_filter(filters.status))

    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    if filters.near is not None:
        after = decode_distance_cursor(cursor) if cursor else None
        stmt = nearest_first(Need, filters.near, dialect, conditions, after, limit + 1)
        rows: list[tuple[Need, float | None]] = [(n, d) for n, d in (await session.exec(stmt)).all()]
    else:
        by_time = newest_first(select(Need).where(*conditions), Need, cursor, limit)
        rows = [(n, None) for n in (await session.exec(by_time)).all()]
    # Fail closed: a row the SQL filter let through but the caller has no view of is dropped.
    roles = [(need, role_of(need, caller), d) for need, d in rows[:limit]]
    page = [(need, role, d) for need, role, d in roles if role is not None]
    await audit.record(session, caller=caller, needs=[need for need, role, _ in page if role != PUBLIC])
    next_cursor = None
    if len(rows) > limit:
        last_need, last_d = rows[limit - 1]
        next_cursor = (
            encode_cursor("d", last_d, str(last_need.id))
            if filters.near is not None
            else encode_time_cursor(last_need.created_at, last_need.id)
        )
    return page, next_cursor
