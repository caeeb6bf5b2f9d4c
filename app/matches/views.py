"""What each side of a match is shown; the volunteer's contact only after acceptance, audited."""

from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit import service as audit
from app.auth.callers import Caller
from app.matches.models import Match, MatchStatus, MatchView, Party
from app.matches.service import NEED_SIDE
from app.members.models import Member


async def render(session: AsyncSession, match: Match, side: str, caller: Caller) -> MatchView:
    volunteer = await session.get(Member, match.volunteer_id)
    assert volunteer is not None
    # Before acceptance neither side sees the other's contact; after it, both do.
    phone = volunteer.phone if side == NEED_SIDE and match.status == MatchStatus.accepted else None
    if phone is not None:
        await audit.record_contact(
            session,
            caller=caller,
            need_id=match.need_id,
            organization_id=match.organization_id,
            member_id=volunteer.id,
        )
    party = Party(id=volunteer.id, display_name=volunteer.display_name, phone=phone)
    return MatchView.model_validate({**match.model_dump(), "volunteer": party})
