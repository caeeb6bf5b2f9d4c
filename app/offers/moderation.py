"""An offer as a report's subject: its volunteer, its organisation, or a requester it was
matched or proposed to may report it; removing it pauses it."""

import uuid
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.callers import Caller
from app.core.errors import NotFound
from app.offers import service
from app.offers.models import Offer
from app.safety.hooks import Subject


async def find(
    session: AsyncSession, *, caller: Caller, subject_id: uuid.UUID, met: bool = False
) -> Subject | None:
    """`met`: the caller has a match with this offer (the matches domain knows; it asks here)."""
    if met:
        offer = await session.get(Offer, subject_id)
    else:
        try:
            offer, _ = await service.get_visible_offer(session, offer_id=subject_id, caller=caller)
        except NotFound:
            return None
    if offer is None:
        return None
    return Subject("offer", offer.id, offer.volunteer_id, offer.organization_id)


async def remove(session: AsyncSession, *, subject_id: uuid.UUID, now: datetime) -> None:
    await service.deactivate(session, offer_id=subject_id, now=now)
