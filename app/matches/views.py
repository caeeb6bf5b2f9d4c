"""What each side of a match is shown: the other's contact only after acceptance, audited."""

from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit import service as audit
from app.auth.callers import Caller
from app.matches.models import Match, MatchStatus, MatchView, Party
from app.matches.service import NEED_SIDE, VOLUNTEER_SIDE
from app.members.models import Member
from app.needs.models import Need


async def _requester_party(session: AsyncSession, match: Match, caller: Caller) -> Party | None:
    """Whom the volunteer calls: the need's contact, else the requester's own phone."""
    need = await session.get(Need, match.need_id)
    assert need is not None
    if need.contact_name is not None:
        party = Party(id=None, display_name=need.contact_name, phone=need.contact_phone)
    elif (
        need.requester_id is not None and (person := await session.get(Member, need.requester_id)) is not None
    ):
        party = Party(id=None, display_name=person.display_name, phone=person.phone)
    else:
        return None
    await audit.record_contact(
        session,
        caller=caller,
        need_id=need.id,
        organization_id=need.organization_id,
        member_id=need.requester_id,
    )
    return party


async def render(session: AsyncSession, match: Match, side: str, caller: Caller) -> MatchView:
    volunteer = await session.get(Member, match.volunteer_id)
    assert volunteer is not None
    accepted = match.status == MatchStatus.accepted
    # Before acceptance neither side sees the other's contact; after it, both do.
    phone = volunteer.phone if side == NEED_SIDE and accepted else None
    if phone is not None:
        await audit.record_contact(
            session,
            caller=caller,
            need_id=match.need_id,
            organization_id=match.organization_id,
            member_id=volunteer.id,
            field="phone",
        )
    requester = (
        await _requester_party(session, match, caller) if side == VOLUNTEER_SIDE and accepted else None
    )
    party = Party(id=volunteer.id, display_name=volunteer.display_name, phone=phone)
    return MatchView.model_validate({**match.model_dump(), "volunteer": party, "requester": requester})
