"""Whether a member is suspended now: one definition, in Python and in SQL.

A suspension holds from `suspended_at` until `suspended_until` (for good when that is None) and
lapses by itself at `suspended_until`: nothing has to run for a member to be reinstated on time.
Every path that must ignore a suspended member (credentials, searches, public reads) asks here.
"""

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.members.models import Member


def is_suspended(member: Member, now: datetime) -> bool:
    return member.suspended_at is not None and (
        member.suspended_until is None or member.suspended_until > now
    )


Instant = datetime | ColumnElement[datetime]  # a time, or a parameter that will hold one


def suspended_sql(now: Instant) -> ColumnElement[bool]:
    """`is_suspended` over the members table's columns."""
    return and_(
        col(Member.suspended_at).is_not(None),
        or_(col(Member.suspended_until).is_(None), col(Member.suspended_until) > now),
    )


def member_suspended(member_id: Any, now: Instant) -> ColumnElement[bool]:
    """True where the member `member_id` (a column or a parameter) is suspended now."""
    found: ColumnElement[bool] = exists().where(col(Member.id) == member_id, suspended_sql(now))
    return found


async def suspended_among(
    session: AsyncSession, *, member_ids: Iterable[uuid.UUID | None], now: datetime
) -> frozenset[uuid.UUID]:
    """Which of these members are suspended now."""
    ids = list({m for m in member_ids if m is not None})
    if not ids:
        return frozenset()
    rows = await session.exec(select(Member.id).where(col(Member.id).in_(ids), suspended_sql(now)))
    return frozenset(rows.all())


async def suspended_now(session: AsyncSession, *, now: datetime) -> frozenset[uuid.UUID]:
    """Every member suspended now: few, so a batch run reads them all in one query."""
    return frozenset((await session.exec(select(Member.id).where(suspended_sql(now)))).all())
