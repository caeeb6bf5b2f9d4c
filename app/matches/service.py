"""Match rules: claims, proposals and every later step, with the contract's limits kept by the
database (conditional UPDATEs in a fixed order: need, offer, match) under any concurrency."""

import uuid
from datetime import datetime
from typing import Protocol

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.callers import Caller
from app.core.crud import newest_first, page_of
from app.core.errors import Conflict, Forbidden, NotFound, PreconditionFailed
from app.core.etag import matches
from app.core.timeutil import utcnow
from app.core.transactions import savepoint
from app.matches import hooks
from app.matches.models import ACTIVE, Match, MatchCreate, MatchStatus
from app.needs import service as needs
from app.needs import slots
from app.needs.models import Need, NeedStatus
from app.needs.views import OWNER, effective_status
from app.offers import capacity
from app.offers.models import Offer
from app.safety import blocks
from app.webhooks import service as webhooks
from app.webhooks.models import CancelReason, EventType

NEED_SIDE, VOLUNTEER_SIDE = "need", "volunteer"


async def _take(session: AsyncSession, match: Match, now: datetime, events: list[webhooks.Event]) -> bool:
    """The need's slot, then the offer's capacity: False when either is gone (the caller rolls back)."""
    return await slots.take_slot(
        session, need_id=match.need_id, now=now, events=events
    ) and await capacity.take_capacity(session, offer_id=match.offer_id, now=now)


async def _release(
    session: AsyncSession, match: Match, now: datetime, events: list[webhooks.Event], *, completed: bool
) -> None:
    """Give back what an accepted match held: the offer's capacity, and the need's slot unless done."""
    await slots.release_slot(session, need_id=match.need_id, now=now, events=events, completed=completed)
    await capacity.release_capacity(session, offer_ids=[match.offer_id], now=now)


async def _move(
    session: AsyncSession, match: Match, to: MatchStatus, now: datetime, *, if_match: set[int] | None
) -> None:
    """The match's own step, conditional on the version we read: the last guard of the transaction
    (where the row lock is a no-op, as on SQLite, this alone keeps two steps from both winning)."""
    values: dict[str, object] = {"status": to, "version": match.version + 1, "updated_at": now}
    if to == MatchStatus.accepted:
        values["accepted_at"] = now
    elif to != MatchStatus.proposed:
        values["closed_at"] = now
    result = await session.exec(
        update(Match).where(col(Match.id) == match.id, col(Match.version) == match.version).values(**values)
    )
    if result.rowcount != 1:
        if if_match is not None:
            raise PreconditionFailed("The match has changed since you read it; fetch it again.")
        raise Conflict("The match changed at the same moment; fetch it again.")


PAIR_REASONS = {"own_need", "already_matched"}
# A pair parted by a block does not exist for anyone asking to join it (app.safety.blocks).
HIDDEN_PAIR = "blocked"
NO_PAIR = "No such need or offer, or not visible to you."


async def _check_eligible(
    session: AsyncSession,
    need: Need,
    offer: Offer,
    now: datetime,
    *,
    existing: Match | None = None,
    sees_offer: bool = True,
) -> float:
    verdict = await hooks.judge()(session, need, offer, now, existing=existing)
    failure = verdict.failure
    if failure == HIDDEN_PAIR:
        raise NotFound(NO_PAIR)
    if failure is not None:
        if failure not in PAIR_REASONS and not sees_offer:
            # The need's owner learns that the pair fails, not the state of someone else's offer.
            raise Conflict("This offer cannot take this need.")
        raise Conflict(f"This offer cannot take this need ({failure.replace('_', ' ')}).", reason=failure)
    return verdict.score


class NeedSide(Protocol):
    """What a match copies from its need: a Need, or the facts a batch run reads."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def requester_id(self) -> uuid.UUID | None: ...
    @property
    def organization_id(self) -> uuid.UUID | None: ...


class OfferSide(Protocol):
    @property
    def id(self) -> uuid.UUID: ...
    @property
    def volunteer_id(self) -> uuid.UUID: ...


def new_match(
    need: NeedSide, offer: OfferSide, caller: Caller, *, accepted: bool, score: float, now: datetime
) -> Match:
    """A match row, with the need's and offer's people copied in for access checks and history."""
    return Match(
        need_id=need.id,
        offer_id=offer.id,
        volunteer_id=offer.volunteer_id,
        requester_id=need.requester_id,
        organization_id=need.organization_id,
        status=MatchStatus.accepted if accepted else MatchStatus.proposed,
        score=score,
        proposed_by_member_id=caller.member_id,
        proposed_by_key_id=caller.key_id,
        accepted_at=now if accepted else None,
        created_at=now,
        updated_at=now,
    )


def event(match: Match, status: MatchStatus, reason: CancelReason | None = None) -> webhooks.Event:
    """The webhook event for a match reaching `status` (its organisation's, ids only)."""
    return webhooks.match_event(
        EventType(f"match.{status}"),
        organization_id=match.organization_id,
        need_id=match.need_id,
        match_id=match.id,
        offer_id=match.offer_id,
        status=status,
        reason=reason,
    )


async def create_match(session: AsyncSession, *, caller: Caller, data: MatchCreate) -> Match:
    """The offer's volunteer claims (accepted at once); the need's owner proposes."""
    need, offer = await session.get(Need, data.need_id), await session.get(Offer, data.offer_id)
    role = needs.role_of(need, caller) if need is not None else None
    if need is None or offer is None or (role is None and not await _proposed_to(session, need, caller)):
        raise NotFound(NO_PAIR)
    claim = caller.member_id is not None and offer.volunteer_id == caller.member_id
    if not claim and role != OWNER:
        # Neither the offer's volunteer nor the need's owner: as if the pair did not exist.
        raise NotFound(NO_PAIR)
    # The pair parted by a block, or the caller with either of them: the pair does not exist
    # (before any other rule, so no answer differs for a blocked pair, whoever asks). Held, so
    # no block between them lands before this match is committed and seen by the block.
    await blocks.hold(session, [need.requester_id, offer.volunteer_id, caller.member_id])
    for viewer, owner in (
        (offer.volunteer_id, need.requester_id),
        (caller.member_id, need.requester_id),
        (caller.member_id, offer.volunteer_id),
    ):
        if await blocks.hides(session, viewer=viewer, owner=owner):
            raise NotFound(NO_PAIR)
    need_status = effective_status(need)
    if need_status != NeedStatus.open:
        raise Conflict(f"The need is {need_status}, not open to more volunteers.")
    now = utcnow()
    sees_offer = claim or caller.acts_for(offer.organization_id)
    match_score = await _check_eligible(session, need, offer, now, sees_offer=sees_offer)
    match = new_match(need, offer, caller, accepted=claim, score=match_score, now=now)
    need_events: list[webhooks.Event] = []
    try:
        async with savepoint(session):
            if claim and not await _take(session, match, now, need_events):
                raise Conflict("The need has no free slot or the offer no free capacity any more.")
            session.add(match)
            await webhooks.emit(session, [event(match, MatchStatus(match.status)), *need_events])
    except IntegrityError:
        raise Conflict("This need and offer already have an active match.") from None
    return match


async def _proposed_to(session: AsyncSession, need: Need, caller: Caller) -> bool:
    """Organisation-only needs are visible to volunteers they were proposed to or matched with."""
    return (
        caller.member_id is not None
        and await relation(session, need_id=need.id, member_id=caller.member_id) is not None
    )


async def relation(session: AsyncSession, *, need_id: uuid.UUID, member_id: uuid.UUID) -> MatchStatus | None:
    """The member's closest tie to a need as a volunteer: accepted, else proposed, else none."""
    rows = await session.exec(
        select(Match.status).where(
            col(Match.need_id) == need_id, col(Match.volunteer_id) == member_id, col(Match.status).in_(ACTIVE)
        )
    )
    statuses = set(rows.all())
    for status in (MatchStatus.accepted, MatchStatus.proposed):
        if status in statuses:
            return status
    return None


def side_of(match: Match, caller: Caller, need: Need) -> str | None:
    if caller.member_id is not None and match.volunteer_id == caller.member_id:
        return VOLUNTEER_SIDE
    if needs.role_of(need, caller) == OWNER:
        return NEED_SIDE
    return None


async def get_match(session: AsyncSession, *, match_id: uuid.UUID, caller: Caller) -> tuple[Match, Need, str]:
    match = await session.get(Match, match_id)
    need = await session.get(Need, match.need_id) if match is not None else None
    side = side_of(match, caller, need) if match is not None and need is not None else None
    if match is None or need is None or side is None or await _parted(session, match, caller):
        raise NotFound("No such match.")
    return match, need, side


async def _parted(session: AsyncSession, match: Match, caller: Caller) -> bool:
    """Is the caller blocked with either person of the match (the other side, as a rule)?"""
    for person in (match.volunteer_id, match.requester_id):
        if await blocks.hides(session, viewer=caller.member_id, owner=person):
            return True
    return False


_STEPS = {
    "accept": ({MatchStatus.proposed}, {VOLUNTEER_SIDE}, MatchStatus.accepted),
    "decline": ({MatchStatus.proposed}, {VOLUNTEER_SIDE}, MatchStatus.declined),
    "complete": ({MatchStatus.accepted}, {VOLUNTEER_SIDE, NEED_SIDE}, MatchStatus.completed),
    "cancel": (
        {MatchStatus.proposed, MatchStatus.accepted},
        {VOLUNTEER_SIDE, NEED_SIDE},
        MatchStatus.cancelled,
    ),
}


async def _lock(session: AsyncSession, match_id: uuid.UUID) -> Match:
    """The match as it is now, row-locked: every step locks match, then need, then offer."""
    stmt = select(Match).where(col(Match.id) == match_id).with_for_update()
    return (await session.exec(stmt.execution_options(populate_existing=True))).one()


async def _change(
    session: AsyncSession,
    match: Match,
    to: MatchStatus,
    allowed_from: set[MatchStatus],
    if_match: set[int] | None,
) -> None:
    """The step itself, on the locked match: slots and capacity taken or given back, the match
    moved, the events written."""
    if not matches(if_match, match.version):  # checked under the row lock: no step slips between
        raise PreconditionFailed("The match has changed since you read it; fetch it again.")
    if match.status not in allowed_from:
        raise Conflict(f"A {match.status} match cannot be {to}.")
    now = utcnow()
    need_events: list[webhooks.Event] = []
    if to == MatchStatus.accepted:
        # The need or offer may have changed since the proposal: check the pair again.
        need, offer = await _fresh(session, match)
        await _check_eligible(session, need, offer, now, existing=match)
        if not await _take(session, match, now, need_events):
            raise Conflict("The need has no free slot or the offer no free capacity any more.")
    elif match.status == MatchStatus.accepted:
        await _release(session, match, now, need_events, completed=to == MatchStatus.completed)
    await _move(session, match, to, now, if_match=if_match)
    await webhooks.emit(session, [event(match, to), *need_events])


async def step(
    session: AsyncSession, *, match: Match, side: str, action: str, if_match: set[int] | None = None
) -> Match:
    allowed_from, allowed_sides, to = _STEPS[action]
    if side not in allowed_sides:
        raise Forbidden(
            f"The {'volunteer' if side == NEED_SIDE else 'need owner'} cannot {action} this match."
        )
    try:
        # The savepoint opens the write transaction before the match is read again: on SQLite,
        # where FOR UPDATE is a no-op, that is what keeps the check below under a lock.
        async with savepoint(session):
            match = await _lock(session, match.id)
            await _change(session, match, to, allowed_from, if_match)
    except IntegrityError:
        raise Conflict("The need or offer changed at the same moment; fetch the match again.") from None
    await session.refresh(match)
    return match


async def _fresh(session: AsyncSession, match: Match) -> tuple[Need, Offer]:
    need = await session.get(Need, match.need_id, populate_existing=True)
    offer = await session.get(Offer, match.offer_id, populate_existing=True)
    assert need is not None  # foreign keys
    assert offer is not None
    return need, offer


async def lock_for_need(session: AsyncSession, *, need_id: uuid.UUID) -> None:
    """Lock a need's active matches before the need itself, in the order every step uses."""
    await session.exec(
        select(Match.id).where(col(Match.need_id) == need_id, col(Match.status).in_(ACTIVE)).with_for_update()
    )


async def cancel_for_need(session: AsyncSession, *, need_id: uuid.UUID, now: datetime) -> None:
    """A cancelled need ends its active matches and frees the offers' capacity (in the request's
    transaction)."""
    ending = (
        await session.exec(select(Match).where(col(Match.need_id) == need_id, col(Match.status).in_(ACTIVE)))
    ).all()
    # One active match per (need, offer): each accepted offer is named once.
    accepted = [m.offer_id for m in ending if m.status == MatchStatus.accepted]
    await capacity.release_capacity(session, offer_ids=accepted, now=now)
    await session.exec(
        update(Match)
        .where(col(Match.need_id) == need_id, col(Match.status).in_(ACTIVE))
        .values(status=MatchStatus.cancelled, closed_at=now, updated_at=now, version=col(Match.version) + 1)
    )
    await webhooks.emit(session, [event(m, MatchStatus.cancelled) for m in ending])


async def cancel_between(
    session: AsyncSession, *, members: tuple[uuid.UUID, uuid.UUID], now: datetime
) -> None:
    """Two members parted (a block): every proposed or accepted match between them is cancelled
    in the caller's transaction, accepted ones giving back the need's slot and the offer's
    capacity. Webhooks hear `match.cancelled` with reason `unavailable`, which names no one."""
    a, b = members
    between = or_(
        (col(Match.volunteer_id) == a) & (col(Match.requester_id) == b),
        (col(Match.volunteer_id) == b) & (col(Match.requester_id) == a),
    )
    # Matches first, in one order (by id), then each one's need and offer: the order every step keeps.
    stmt = select(Match).where(between, col(Match.status).in_(ACTIVE)).order_by(col(Match.id))
    ending = (await session.exec(stmt.with_for_update().execution_options(populate_existing=True))).all()
    for match in ending:
        events: list[webhooks.Event] = []
        if match.status == MatchStatus.accepted:
            await _release(session, match, now, events, completed=False)
        await _move(session, match, MatchStatus.cancelled, now, if_match=None)
        await webhooks.emit(session, [event(match, MatchStatus.cancelled, CancelReason.unavailable), *events])


async def list_matches(
    session: AsyncSession,
    *,
    caller: Caller,
    need_id: uuid.UUID | None,
    offer_id: uuid.UUID | None,
    status: MatchStatus | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Match], str | None]:
    mine = []
    if caller.member_id is not None:
        mine += [col(Match.volunteer_id) == caller.member_id, col(Match.requester_id) == caller.member_id]
    if caller.organizations():
        mine.append(col(Match.organization_id).in_(caller.organizations()))
    if not mine:
        return [], None
    stmt = select(Match).where(or_(*mine))
    if caller.member_id is not None:  # a match with someone the caller is blocked with is gone
        for person in (Match.volunteer_id, Match.requester_id):
            stmt = stmt.where(blocks.not_blocked_with(col(person), caller.member_id))
    for column, value in ((Match.need_id, need_id), (Match.offer_id, offer_id), (Match.status, status)):
        if value is not None:
            stmt = stmt.where(col(column) == value)
    return page_of((await session.exec(newest_first(stmt, Match, cursor, limit))).all(), limit)
