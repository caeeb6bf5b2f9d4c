"""What a member's matches say about them: claims they hold open, volunteers a requester knows."""

import uuid
from collections.abc import Iterable

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import trust
from app.core.config import TrustLimits
from app.core.errors import Conflict
from app.matches.models import ACTIVE, Match, MatchStatus

# A volunteer a requester has had accepted (or completed) is no stranger: their name may show.
KNOWN = (MatchStatus.accepted, MatchStatus.completed)


async def check_open_claims(session: AsyncSession, *, volunteer_id: uuid.UUID, limits: TrustLimits) -> None:
    """409 once the volunteer holds their tier's number of open claims (matches they proposed
    themselves, still proposed or accepted). A state, not a rate: one frees when a claim ends, so
    waiting a set time would not help, and no Retry-After could be true. Counted in the table
    under a lock of the volunteer's own, so concurrent claims of one volunteer cannot overshoot.

    On Postgres that lock is a transaction advisory lock, not the member row: a claim already
    holds the row FOR SHARE (app.safety.blocks.hold), and claims upgrading their shared locks to
    FOR UPDATE all at once deadlock one another."""
    bind = session.bind
    if bind is not None and bind.dialect.name == "postgresql":
        key = volunteer_id.int & 0x7FFF_FFFF_FFFF_FFFF  # a bigint, the same for every claim of theirs
        await session.exec(select(func.pg_advisory_xact_lock(key)))
    else:
        await trust.lock_member(session, member_id=volunteer_id)
    stmt = select(func.count()).where(
        col(Match.volunteer_id) == volunteer_id,
        col(Match.proposed_by_member_id) == volunteer_id,
        col(Match.status).in_(ACTIVE),
    )
    if (await session.exec(stmt)).one() >= limits.open_claims:
        raise Conflict(
            f"You hold {limits.open_claims} open claims, the most your account may: complete or "
            "cancel one before claiming another."
        )


async def known_volunteers(
    session: AsyncSession,
    *,
    volunteer_ids: Iterable[uuid.UUID],
    requester_id: uuid.UUID | None = None,
    organization_id: uuid.UUID | None = None,
) -> set[uuid.UUID]:
    """Those of `volunteer_ids` with an accepted or completed match with this requester, or on
    one of this organisation's needs (give one of the two)."""
    wanted = set(volunteer_ids)
    if not wanted or (requester_id is None) == (organization_id is None):
        return set()
    side = (
        col(Match.requester_id) == requester_id
        if requester_id is not None
        else col(Match.organization_id) == organization_id
    )
    stmt = select(Match.volunteer_id).where(
        side, col(Match.volunteer_id).in_(wanted), col(Match.status).in_(KNOWN)
    )
    return set((await session.exec(stmt)).all())
