"""Trust limits: how much a member may do, by how long and how well they are known.

Three tiers (docs/safety.md): `vetted` (an organisation's coordinator flagged a membership of
theirs as vetted), `new` (an unvetted account younger than TRUST_NEW_ACCOUNT_DAYS) and `member`
(everyone else). API keys, and coordinators filing for their own organisation, act for the
organisation and are not limited by a member's tier. Each domain counts its own rows (needs,
offers, claims) in the database, so every worker process sees the same count; the member's row is
locked first, so two requests of one member cannot both take the last unit.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.callers import Caller
from app.auth.ratelimit import TooManyRequests
from app.core.config import Settings, TrustLimits
from app.core.timeutil import utcnow
from app.members.models import Member
from app.organizations.models import Membership

DAY = timedelta(days=1)


class Tier(StrEnum):
    new = "new"
    member = "member"
    vetted = "vetted"


@dataclass(frozen=True)
class Trust:
    """The caller's tier and its limits; `limits` is None for an API key (never limited here)."""

    tier: Tier | None
    limits: TrustLimits | None

    def of(self, caller: Caller) -> TrustLimits | None:
        return self.limits if caller.member_id is not None else None


async def is_vetted(session: AsyncSession, *, member_id: object) -> bool:
    """Whether any organisation's coordinators flagged a membership of this member as vetted."""
    stmt = select(func.count()).where(col(Membership.member_id) == member_id, col(Membership.vetted))
    return bool((await session.exec(stmt)).one())


def tier_for(*, created_at: datetime, vetted: bool, settings: Settings, now: datetime) -> Tier:
    if vetted:
        return Tier.vetted
    if now - created_at < timedelta(days=settings.trust_new_account_days):
        return Tier.new
    return Tier.member


def limits_for(tier: Tier, settings: Settings) -> TrustLimits:
    return {
        Tier.new: settings.trust_new,
        Tier.member: settings.trust_member,
        Tier.vetted: settings.trust_vetted,
    }[tier]


async def resolve(session: AsyncSession, *, caller: Caller, settings: Settings) -> Trust:
    """The caller's tier and limits (one query, for a member)."""
    member = caller.member
    if member is None or caller.member_id is None:
        return Trust(tier=None, limits=None)
    vetted = await is_vetted(session, member_id=caller.member_id)
    tier = tier_for(created_at=member.created_at, vetted=vetted, settings=settings, now=utcnow())
    return Trust(tier=tier, limits=limits_for(tier, settings))


async def lock_member(session: AsyncSession, *, member_id: object) -> None:
    """Hold the member's row until the transaction ends: their counted writes queue behind it,
    so a count and the insert it allows are never split by another request of theirs.

    FOR NO KEY UPDATE, as a block's lock (app.safety.blocks): it excludes every other counted
    write of theirs, but not the KEY SHARE a foreign key takes when another transaction inserts
    a row naming them (a notification, a message), which FOR UPDATE would make wait."""
    await session.exec(select(Member.id).where(col(Member.id) == member_id).with_for_update(key_share=True))


def over_daily_limit(
    what: str, limit: int, oldest_in_window: datetime | None, now: datetime
) -> TooManyRequests:
    """429 for a daily limit, with Retry-After: when the oldest counted row leaves the window."""
    frees_at = (oldest_in_window or now) + DAY
    wait = max(1, math.ceil((frees_at - now).total_seconds()))
    return TooManyRequests(
        f"You may create at most {limit} {what} in 24 hours; retry after {wait} s.",
        headers={"Retry-After": str(wait)},
    )
