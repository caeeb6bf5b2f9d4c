"""A member's daily allowance of needs filed for themselves (trust limits, app.auth.trust).

Counted from the needs table (created in the last 24 hours), so every worker sees one count; the
member's row is locked first, so concurrent requests of one member queue for the last unit. Needs
a coordinator files for their own organisation, and everything an API key files, are intake,
never counted nor limited.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import trust
from app.auth.callers import Caller
from app.auth.ratelimit import TooManyRequests
from app.core.config import TrustLimits
from app.needs.models import Need


def counted(caller: Caller, organization_id: uuid.UUID | None) -> bool:
    """Whether a need filed by the caller under this organisation is the member's own (counted)."""
    return caller.member_id is not None and not caller.acts_for(organization_id)


@dataclass
class Allowance:
    """How many more needs the member may file now; `refusal` once they are spent."""

    limit: int
    left: int
    oldest: datetime | None
    now: datetime

    def take(self) -> None:
        if self.left <= 0:
            raise self.refusal()
        self.left -= 1

    def refusal(self) -> TooManyRequests:
        return trust.over_daily_limit("needs", self.limit, self.oldest, self.now)


async def allowance(
    session: AsyncSession, *, caller: Caller, limits: TrustLimits, now: datetime
) -> Allowance:
    """The member's needs of the last 24 hours, counted under a lock on their row."""
    assert caller.member_id is not None
    await trust.lock_member(session, member_id=caller.member_id)
    own = or_(
        col(Need.organization_id).is_(None), col(Need.organization_id).not_in(list(caller.coordinator_of))
    )
    stmt = select(func.count(), func.min(col(Need.created_at))).where(
        col(Need.requester_id) == caller.member_id, col(Need.created_at) > now - trust.DAY, own
    )
    count, oldest = (await session.exec(stmt)).one()
    return Allowance(limit=limits.needs_per_day, left=limits.needs_per_day - count, oldest=oldest, now=now)
