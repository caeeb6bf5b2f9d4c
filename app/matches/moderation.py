"""Matches as moderation sees them: a match (or an offer, or a member) is reportable by those it
joined, and a suspension ends every match its member is part of."""

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.callers import Caller
from app.core.errors import NotFound
from app.matches import messages, service
from app.matches.models import ACTIVE, Match
from app.members.models import Member
from app.offers import moderation as offers
from app.organizations.models import Membership
from app.safety.hooks import Subject


async def find_match(session: AsyncSession, *, caller: Caller, subject_id: uuid.UUID) -> Subject | None:
    """The match as one of its sides (or its organisation) sees it; it is about the other side."""
    try:
        match, _, side = await service.get_match(session, match_id=subject_id, caller=caller)
    except NotFound:
        return None
    other = match.requester_id if side == service.VOLUNTEER_SIDE else match.volunteer_id
    return Subject("match", match.id, other, match.organization_id)


async def find_offer(session: AsyncSession, *, caller: Caller, subject_id: uuid.UUID) -> Subject | None:
    """Visible to its volunteer and organisation, and to a requester it was ever matched with."""
    met = caller.member_id is not None and await _any_match(
        session, col(Match.offer_id) == subject_id, col(Match.requester_id) == caller.member_id
    )
    return await offers.find(session, caller=caller, subject_id=subject_id, met=met)


async def find_member(session: AsyncSession, *, caller: Caller, subject_id: uuid.UUID) -> Subject | None:
    """A member the caller has met: through a match (either side), or in an organisation they
    share. Anyone else is unknown to them, so a report about them is 404 like a missing id."""
    if caller.member_id is None or subject_id == caller.member_id:
        return None
    if await session.get(Member, subject_id) is None:
        return None
    me = caller.member_id
    met = await _any_match(
        session,
        or_(
            and_(col(Match.volunteer_id) == subject_id, col(Match.requester_id) == me),
            and_(col(Match.requester_id) == subject_id, col(Match.volunteer_id) == me),
        ),
    )
    if not met and not await _share_an_organization(session, me, subject_id):
        return None
    return Subject("member", subject_id, subject_id, None)


async def _any_match(session: AsyncSession, *conditions: ColumnElement[bool]) -> bool:
    return (await session.exec(select(Match.id).where(*conditions).limit(1))).first() is not None


async def _share_an_organization(session: AsyncSession, a: uuid.UUID, b: uuid.UUID) -> bool:
    theirs = select(Membership.organization_id).where(col(Membership.member_id) == b)
    stmt = select(Membership.organization_id).where(
        col(Membership.member_id) == a, col(Membership.organization_id).in_(theirs)
    )
    return (await session.exec(stmt.limit(1))).first() is not None


async def remove_match(session: AsyncSession, *, subject_id: uuid.UUID, now: datetime) -> None:
    await service.end(session, match_id=subject_id)


async def end_for_member(session: AsyncSession, *, member_id: uuid.UUID, now: datetime) -> int:
    """Cancel every proposed or accepted match the member is on, either side: each as an ordinary
    cancellation (slots and capacity given back, `match.cancelled` to the organisation's
    webhooks), so the other side learns that it ended, never why."""
    stmt = select(Match.id).where(
        or_(col(Match.volunteer_id) == member_id, col(Match.requester_id) == member_id),
        col(Match.status).in_(ACTIVE),
    )
    ended = 0
    for match_id in (await session.exec(stmt.order_by(col(Match.id)))).all():
        ended += await service.end(session, match_id=match_id)
    return ended


async def find_message(session: AsyncSession, *, caller: Caller, subject_id: uuid.UUID) -> Subject | None:
    """A message its match's sides can read; it is about its author (who cannot report it)."""
    found = await messages.visible_message(session, message_id=subject_id, caller=caller)
    if found is None:
        return None
    message, match = found
    return Subject("message", message.id, message.author_id, match.organization_id)


async def remove_message(session: AsyncSession, *, subject_id: uuid.UUID, now: datetime) -> None:
    await messages.remove(session, message_id=subject_id, now=now)
