"""Match rules: claims, proposals and every later step, with the contract's limits kept by the
database (conditional UPDATEs in a fixed order: need, offer, match) under any concurrency."""

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.callers import Caller
from app.core.config import TrustLimits
from app.core.crud import newest_first, page_of
from app.core.errors import Conflict, Forbidden, Invalid, NotFound, PreconditionFailed
from app.core.etag import matches
from app.core.timeutil import utcnow
from app.core.transactions import savepoint
from app.matches import hooks, standing
from app.matches.models import ACTIVE, Match, MatchCreate, MatchStatus, ProposedBy
from app.members.suspension import suspended_among
from app.needs import occurrences, slots
from app.needs import service as needs
from app.needs.models import Approval, Need, NeedStatus
from app.needs.views import OWNER, effective_status
from app.notifications import service as notifications
from app.offers import capacity
from app.offers.models import Offer
from app.organizations import service as organizations
from app.safety import blocks
from app.webhooks import service as webhooks
from app.webhooks.models import CancelReason, EventType

NEED_SIDE, VOLUNTEER_SIDE = "need", "volunteer"


async def _take(session: AsyncSession, match: Match, now: datetime, events: list[webhooks.Event]) -> bool:
    """The need's slot (the series', or the one occurrence's the match names), then the offer's
    capacity: False when either is gone (the caller rolls back)."""
    return await slots.take_slot(
        session, need_id=match.need_id, now=now, events=events, occurrence_start=match.occurrence_start
    ) and await capacity.take_capacity(session, offer_id=match.offer_id, now=now)


async def _release(
    session: AsyncSession, match: Match, now: datetime, events: list[webhooks.Event], *, completed: bool
) -> None:
    """Give back what an accepted match held: the offer's capacity, and the need's slot unless done."""
    await slots.release_slot(
        session,
        need_id=match.need_id,
        now=now,
        events=events,
        completed=completed,
        occurrence_start=match.occurrence_start,
    )
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
    occurrence_start: datetime | None = None,
) -> float:
    if occurrence_start is not None:
        # Judged against that occurrence's window, not the series' next one.
        single = occurrences.one_of(need, occurrence_start, now)
        if single is None:
            raise Conflict("The occurrence this match is for is no longer open.")
        need = single
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


async def tell(
    session: AsyncSession, matches: Iterable[Match], status: MatchStatus, *, actor: uuid.UUID | None
) -> None:
    """Notify each match's people that it reached `status`: a proposal goes to the side that did
    not propose, every later step to both sides but the member who took it (`actor`; None when
    an API key or the system acted). The need's side is its requester, or the coordinators of an
    organisation's need. Ids only: the match, its need and its offer."""
    matches = list(matches)
    need_sides = {m.id: await need_side_people(session, m) for m in matches}
    if len(matches) > 1:
        people = {p for m in matches for p in (m.volunteer_id, *need_sides[m.id]) if p != actor}
        await notifications.hold(session, members=people)
    for match in matches:
        need_side = need_sides[match.id]
        if status == MatchStatus.proposed:
            claim = proposed_by(match) == ProposedBy.volunteer
            recipients = need_side if claim else [match.volunteer_id]
        else:
            recipients = [match.volunteer_id, *need_side]
        data = {
            "match_id": str(match.id),
            "need_id": str(match.need_id),
            "offer_id": str(match.offer_id),
            "status": str(status),
        }
        await notifications.notify(
            session, recipients=recipients, type=f"match.{status}", data=data, actor=actor
        )


async def need_side_people(session: AsyncSession, match: Match) -> list[uuid.UUID]:
    """Who answers for the need: its requester, or for an organisation's need (filed for someone)
    its coordinators now, who accept or decline claims on it."""
    if match.requester_id is not None:
        return [match.requester_id]
    if match.organization_id is None:
        return []
    return sorted(await organizations.coordinators(session, organization_id=match.organization_id))


async def create_match(
    session: AsyncSession, *, caller: Caller, data: MatchCreate, limits: TrustLimits | None
) -> Match:
    """The offer's volunteer claims (`proposed` until the need's side accepts it, or `accepted` at
    once on a need whose approval is `automatic`); the need's owner proposes. 404 when the caller
    may not see the pair, 409 when the need is not open or the pair is not eligible, or when a
    claim goes beyond the volunteer's open claims (`limits`, their trust tier's)."""
    # The need as the caller may see it (the one place that decides: hidden while its requester
    # is suspended, or from a caller blocked with them), and one answer for every pair that is
    # not there for the caller, whichever half is missing.
    try:
        need, role = await needs.get_visible_need(session, need_id=data.need_id, caller=caller)
    except NotFound:
        raise NotFound(NO_PAIR) from None
    offer = await session.get(Offer, data.offer_id)
    if offer is None:
        raise NotFound(NO_PAIR)
    claim = caller.member_id is not None and offer.volunteer_id == caller.member_id
    if not claim and role != OWNER:
        # Neither the offer's volunteer nor the need's owner: as if the pair did not exist.
        raise NotFound(NO_PAIR)
    if not claim and await suspended_among(session, member_ids=[offer.volunteer_id], now=utcnow()):
        # A suspended volunteer's offers stop appearing anywhere (as in get_visible_offer): to the
        # owner proposing to one it is not there, rather than a 409 saying who is suspended.
        raise NotFound(NO_PAIR)
    # The pair parted by a block, or the caller with either of them: the pair does not exist
    # (before any other rule, so no answer differs for a blocked pair, whoever asks). Held, so
    # no block between them lands before this match is committed and seen by the block.
    await blocks.hold(session, [need.requester_id, offer.volunteer_id, caller.member_id])
    asked: set[frozenset[uuid.UUID | None]] = set()
    for viewer, owner in (
        (offer.volunteer_id, need.requester_id),
        (caller.member_id, need.requester_id),
        (caller.member_id, offer.volunteer_id),
    ):
        # Each pair once, either way round (a block is either way): a claim's caller is the
        # volunteer, whose pair with the requester would otherwise be read twice.
        if frozenset((viewer, owner)) in asked:
            continue
        asked.add(frozenset((viewer, owner)))
        if await blocks.hides(session, viewer=viewer, owner=owner):
            raise NotFound(NO_PAIR)
    need_status = effective_status(need)
    if need_status != NeedStatus.open:
        raise Conflict(f"The need is {need_status}, not open to more volunteers.")
    if claim and limits is not None:
        await standing.check_open_claims(session, volunteer_id=offer.volunteer_id, limits=limits)
    now = utcnow()
    if data.occurrence_start is not None and occurrences.one_of(need, data.occurrence_start, now) is None:
        raise Invalid(
            "occurrence_start is not an open occurrence of the need (see its occurrences).",
            loc=["body", "occurrence_start"],
        )
    sees_offer = claim or caller.acts_for(offer.organization_id)
    match_score = await _check_eligible(
        session, need, offer, now, sees_offer=sees_offer, occurrence_start=data.occurrence_start
    )
    # A claim takes a slot only when nobody has to approve it; a proposed match holds nothing.
    accepted = claim and need.approval == Approval.automatic
    match = new_match(need, offer, caller, accepted=accepted, score=match_score, now=now)
    match.occurrence_start = data.occurrence_start
    need_events: list[webhooks.Event] = []
    try:
        async with savepoint(session):
            if accepted and not await _take(session, match, now, need_events):
                raise Conflict("The need has no free slot or the offer no free capacity any more.")
            session.add(match)
            await webhooks.emit(session, [event(match, MatchStatus(match.status)), *need_events])
            await tell(session, [match], MatchStatus(match.status), actor=caller.member_id)
    except IntegrityError:
        raise Conflict("This need and offer already have an active match.") from None
    return match


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


def proposed_by(match: Match) -> ProposedBy:
    """Who made the match: the volunteer (a claim), the requester, or the need's organisation
    (a coordinator, a key or a batch run). Read from who created the row, never stored twice."""
    if match.proposed_by_member_id is not None and match.proposed_by_member_id == match.volunteer_id:
        return ProposedBy.volunteer
    if match.proposed_by_key_id is None and match.proposed_by_member_id == match.requester_id:
        return ProposedBy.requester
    return ProposedBy.organization


def proposing_side(match: Match) -> str:
    return VOLUNTEER_SIDE if proposed_by(match) == ProposedBy.volunteer else NEED_SIDE


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


# Accept and decline belong to the side that did not propose (ANSWERING stands for it).
ANSWERING = "answering"
_STEPS = {
    "accept": ({MatchStatus.proposed}, {ANSWERING}, MatchStatus.accepted),
    "decline": ({MatchStatus.proposed}, {ANSWERING}, MatchStatus.declined),
    "complete": ({MatchStatus.accepted}, {VOLUNTEER_SIDE, NEED_SIDE}, MatchStatus.completed),
    "cancel": (
        {MatchStatus.proposed, MatchStatus.accepted},
        {VOLUNTEER_SIDE, NEED_SIDE},
        MatchStatus.cancelled,
    ),
}


def _check_side(match: Match, side: str, action: str, allowed_sides: set[str]) -> None:
    """403 for a side of the match that may not take this step (it knows the match exists)."""
    if ANSWERING in allowed_sides:
        if side == proposing_side(match):
            other = "need's side" if side == VOLUNTEER_SIDE else "volunteer"
            raise Forbidden(f"Your side proposed this match: only the {other} may {action} it.")
    elif side not in allowed_sides:
        raise Forbidden(
            f"The {'volunteer' if side == NEED_SIDE else 'need owner'} cannot {action} this match."
        )


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
    actor: uuid.UUID | None,
    reason: CancelReason | None = None,
) -> None:
    """The step itself, on the locked match: slots and capacity taken or given back, the match
    moved, the events written (`reason` on a cancellation neither side asked for) and its people
    told."""
    if not matches(if_match, match.version):  # checked under the row lock: no step slips between
        raise PreconditionFailed("The match has changed since you read it; fetch it again.")
    if match.status not in allowed_from:
        raise Conflict(f"A {match.status} match cannot be {to}.")
    now = utcnow()
    need_events: list[webhooks.Event] = []
    if to == MatchStatus.accepted:
        # The need or offer may have changed since the proposal: check the pair again.
        need, offer = await _fresh(session, match)
        await _check_eligible(
            session, need, offer, now, existing=match, occurrence_start=match.occurrence_start
        )
        if not await _take(session, match, now, need_events):
            raise Conflict("The need has no free slot or the offer no free capacity any more.")
    elif match.status == MatchStatus.accepted:
        await _release(session, match, now, need_events, completed=to == MatchStatus.completed)
    await _move(session, match, to, now, if_match=if_match)
    await webhooks.emit(session, [event(match, to, reason), *need_events])
    await tell(session, [match], to, actor=actor)


async def step(
    session: AsyncSession,
    *,
    match: Match,
    side: str,
    action: str,
    actor: uuid.UUID | None,
    if_match: set[int] | None = None,
) -> Match:
    """Move the match by `action` for the caller on `side`; `actor` is the calling member (None
    for an API key), who is not notified of their own step."""
    allowed_from, allowed_sides, to = _STEPS[action]
    _check_side(match, side, action, allowed_sides)
    try:
        # The savepoint opens the write transaction before the match is read again: on SQLite,
        # where FOR UPDATE is a no-op, that is what keeps the check below under a lock.
        async with savepoint(session):
            match = await _lock(session, match.id)
            await _change(session, match, to, allowed_from, if_match, actor)
    except IntegrityError:
        raise Conflict("The need or offer changed at the same moment; fetch the match again.") from None
    await session.refresh(match)
    return match


async def end(session: AsyncSession, *, match_id: uuid.UUID) -> bool:
    """Cancel a proposed or accepted match on nobody's side (a moderator, a suspension): both
    sides are told, and webhooks hear `match.cancelled` with reason `unavailable`, which says
    nothing of why; False when it had already ended."""
    async with savepoint(session):
        match = await _lock(session, match_id)
        if match.status not in ACTIVE:
            return False
        await _change(
            session, match, MatchStatus.cancelled, set(ACTIVE), None, None, CancelReason.unavailable
        )
    return True


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


async def cancel_for_need(
    session: AsyncSession, *, need_id: uuid.UUID, now: datetime, actor: uuid.UUID | None
) -> None:
    """A cancelled need ends its active matches and frees the offers' capacity (in the request's
    transaction); their people are told, but the member who cancelled (`actor`)."""
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
    await tell(session, ending, MatchStatus.cancelled, actor=actor)


async def cancel_between(
    session: AsyncSession, *, members: tuple[uuid.UUID, uuid.UUID], now: datetime
) -> None:
    """Two members parted (a block): every proposed or accepted match between them is cancelled
    in the caller's transaction, accepted ones giving back the need's slot and the offer's
    capacity. Webhooks hear `match.cancelled` with reason `unavailable`, which names no one; the
    other member is told the match was cancelled, as of any cancellation, and never why (the
    first of `members` blocked, and is not told of their own act)."""
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
    await tell(session, ending, MatchStatus.cancelled, actor=a)


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
