"""Whether a member may still act: the one check behind every request's caller and every
long-lived stream's wake-up, so a rule that shuts a member out (suspension, a closed account)
is added here once and holds on both paths."""

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.callers import usable
from app.core.timeutil import utcnow
from app.members import service as members
from app.members.models import Member


def allowed(member: Member) -> bool:
    """A loaded member row still lets its holder in: not suspended now (`callers.usable`). A
    suspended member's tokens, and the keys they created, get 401 from the next request, and
    their open streams end at the next wake-up. An erased account (`erased_at`) is shut out for
    good, from the request after the erasure commits."""
    return member.erased_at is None and usable(member, utcnow())


async def still_allowed(session: AsyncSession, *, member_id: uuid.UUID) -> bool:
    """The member exists and `allowed` holds: what an open notification stream asks at each
    wake-up (at least every heartbeat), so it ends soon after its member is shut out."""
    member = await members.get_member(session, member_id=member_id)
    return member is not None and allowed(member)
