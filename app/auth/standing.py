"""Whether a member may still act: the one check behind every request's caller and every
long-lived stream's wake-up, so a rule that shuts a member out (suspension, a closed account)
is added here once and holds on both paths."""

import uuid
from collections.abc import Collection

from sqlalchemy import ColumnElement, and_, not_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.callers import usable
from app.core.among import among
from app.core.timeutil import utcnow
from app.members import service as members
from app.members import sessions
from app.members.models import Member
from app.members.suspension import Instant, suspended_sql


def allowed(member: Member) -> bool:
    """A loaded member row still lets its holder in: not suspended now (`callers.usable`). A
    suspended member's tokens, and the keys they created, get 401 from the next request, and
    their open streams end within a heartbeat. An erased account (`erased_at`) is shut out for
    good, from the request after the erasure commits."""
    return member.erased_at is None and usable(member, utcnow())


def allowed_sql(now: Instant) -> ColumnElement[bool]:
    """`allowed` over the members table's columns."""
    return and_(col(Member.erased_at).is_(None), not_(suspended_sql(now)))


async def shut_out(session: AsyncSession, *, member_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Of `member_ids`, those who may no longer act (or no longer exist), in one query: how a
    process checks all its open streams at once, instead of a query per stream."""
    ids, now = set(member_ids), utcnow()
    allowed_ids: set[uuid.UUID] = set()
    for condition in among(col(Member.id), ids, dialect=session.get_bind().dialect.name):
        allowed_ids.update((await session.exec(select(Member.id).where(condition, allowed_sql(now)))).all())
    return ids - allowed_ids


async def still_allowed(
    session: AsyncSession, *, member_id: uuid.UUID, session_id: uuid.UUID | None = None
) -> bool:
    """The member exists and `allowed` holds, and the login `session_id` (when given: the one
    whose access token opened a notification stream) is still live, as every request's caller
    is checked (app.auth.deps): what an open stream asks at each wake-up; `shut_out` and
    `sessions.ended_among` ask it of all a process's streams every heartbeat."""
    if session_id is None:
        member = await members.get_member(session, member_id=member_id)
    else:
        member = await sessions.member_of(session, member_id=member_id, session_id=session_id)
    return member is not None and allowed(member)
