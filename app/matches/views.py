"""What each side of a match is shown: the other's contact only after acceptance, audited."""

import uuid
from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit import service as audit
from app.audit.models import AuditEvent
from app.auth.callers import Caller
from app.matches import standing
from app.matches.models import Match, MatchStatus, MatchView, Party, ProposedBy
from app.matches.service import NEED_SIDE, VOLUNTEER_SIDE, proposed_by, side_of
from app.members.models import Member
from app.needs.models import Need
from app.organizations import service as organizations

# How the need's side sees a volunteer it proposed to who has not said yes: not by name, or
# proposing to every candidate would list a neighbourhood's volunteers (docs/safety.md).
UNNAMED = "A volunteer"


def _requester_party(
    need: Need, members: dict[uuid.UUID, Member], caller: Caller, shown: list[AuditEvent | None]
) -> Party | None:
    """Whom the volunteer calls: the need's contact, else the requester's own phone."""
    if need.contact_name is not None:
        party = Party(id=None, display_name=need.contact_name, phone=need.contact_phone)
    elif need.requester_id is not None and (person := members.get(need.requester_id)) is not None:
        party = Party(id=None, display_name=person.display_name, phone=person.phone)
    else:
        return None
    shown.append(
        audit.contact_event(
            caller, need_id=need.id, organization_id=need.organization_id, member_id=need.requester_id
        )
    )
    return party


def _named_as_is(match: Match) -> bool:
    """A volunteer who claimed, or who has accepted this match, has shown themselves to its need's
    side; any other needs to be known to it (`_known`)."""
    return match.accepted_at is not None or proposed_by(match) == ProposedBy.volunteer


async def _known(
    session: AsyncSession, matches: Sequence[Match], needs: dict[uuid.UUID, Need]
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """(match id, volunteer id) of the matches whose need's side may see the volunteer's name
    though this match does not show it: a volunteer the requester (or the organisation) has had
    accepted before, or a member of the need's organisation. One or two queries per need's side."""
    by_side: dict[tuple[str, uuid.UUID], list[Match]] = {}
    for match in matches:
        need = needs[match.need_id]
        if _named_as_is(match):
            continue
        if need.requester_id is not None:
            by_side.setdefault(("requester", need.requester_id), []).append(match)
        elif need.organization_id is not None:
            by_side.setdefault(("organization", need.organization_id), []).append(match)
    known: set[tuple[uuid.UUID, uuid.UUID]] = set()
    for (kind, who), group in by_side.items():
        volunteers = {m.volunteer_id for m in group}
        if kind == "requester":
            names = await standing.known_volunteers(session, requester_id=who, volunteer_ids=volunteers)
        else:
            names = await organizations.members_among(session, organization_id=who, member_ids=volunteers)
            names |= await standing.known_volunteers(
                session, organization_id=who, volunteer_ids=volunteers - names
            )
        known |= {(m.id, m.volunteer_id) for m in group if m.volunteer_id in names}
    return known


def _view(
    match: Match,
    side: str,
    need: Need,
    members: dict[uuid.UUID, Member],
    caller: Caller,
    shown: list[AuditEvent | None],
    known: set[tuple[uuid.UUID, uuid.UUID]],
) -> MatchView:
    volunteer = members[match.volunteer_id]
    accepted = match.status == MatchStatus.accepted
    # Before acceptance neither side sees the other's contact; after it, both do.
    phone = volunteer.phone if side == NEED_SIDE and accepted else None
    if phone is not None:
        shown.append(
            audit.contact_event(
                caller,
                need_id=match.need_id,
                organization_id=match.organization_id,
                member_id=volunteer.id,
                field="phone",
            )
        )
    requester = (
        _requester_party(need, members, caller, shown) if side == VOLUNTEER_SIDE and accepted else None
    )
    if side == NEED_SIDE and not _named_as_is(match) and (match.id, volunteer.id) not in known:
        party = Party(id=None, display_name=UNNAMED, phone=None)
    else:
        party = Party(id=volunteer.id, display_name=volunteer.display_name, phone=phone)
    return MatchView.model_validate(
        {**match.model_dump(), "proposed_by": proposed_by(match), "volunteer": party, "requester": requester}
    )


async def _needs_and_people(
    session: AsyncSession, matches: Sequence[Match]
) -> tuple[dict[uuid.UUID, Need], dict[uuid.UUID, Member]]:
    """Every need and person a page of matches shows, in two queries whatever the page size."""
    need_ids = {m.need_id for m in matches}
    needs = {n.id: n for n in (await session.exec(select(Need).where(col(Need.id).in_(need_ids)))).all()}
    people = {m.volunteer_id for m in matches} | {
        n.requester_id for n in needs.values() if n.requester_id is not None
    }
    members = {p.id: p for p in (await session.exec(select(Member).where(col(Member.id).in_(people)))).all()}
    return needs, members


async def render_page(session: AsyncSession, matches: Sequence[Match], caller: Caller) -> list[MatchView]:
    """Each match as the caller's side sees it (a match the caller has no side of is left out),
    with one audit row per contact shown, flushed in one INSERT before anything is returned."""
    if not matches:
        return []
    needs, members = await _needs_and_people(session, matches)
    shown: list[AuditEvent | None] = []
    views = []
    sides = {m.id: side_of(m, caller, needs[m.need_id]) for m in matches}  # foreign keys
    known = await _known(session, [m for m in matches if sides[m.id] == NEED_SIDE], needs)
    for match in matches:
        side = sides[match.id]
        if side is not None:
            views.append(_view(match, side, needs[match.need_id], members, caller, shown, known))
    await audit.add_events(session, [event for event in shown if event is not None])
    return views


async def render(session: AsyncSession, match: Match, side: str, caller: Caller) -> MatchView:
    """One match from `side`, as the route that loaded it decided."""
    needs, members = await _needs_and_people(session, [match])
    shown: list[AuditEvent | None] = []
    known = await _known(session, [match], needs) if side == NEED_SIDE else set()
    view = _view(match, side, needs[match.need_id], members, caller, shown, known)
    await audit.add_events(session, [event for event in shown if event is not None])
    return view
