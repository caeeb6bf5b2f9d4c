"""An offer's capacity, taken and given back by the matches accepted through it.

Conditional UPDATEs, so `active_matches` never passes `capacity` under any concurrency.
"""

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from app.offers.models import Offer, OfferStatus


async def take_capacity(session: AsyncSession, *, offer_id: uuid.UUID, now: datetime) -> bool:
    """One more active match, only while the offer is active and not full; False writes nothing."""
    result = await session.exec(
        update(Offer)
        .where(
            col(Offer.id) == offer_id,
            col(Offer.status) == OfferStatus.active,
            col(Offer.active_matches) < col(Offer.capacity),
        )
        .values(active_matches=col(Offer.active_matches) + 1, version=col(Offer.version) + 1, updated_at=now)
    )
    return bool(result.rowcount == 1)


async def release_capacity(session: AsyncSession, *, offer_ids: Collection[uuid.UUID], now: datetime) -> None:
    """One active match fewer on each of these offers (each named once)."""
    if not offer_ids:
        return
    await session.exec(
        update(Offer)
        .where(col(Offer.id).in_(offer_ids))
        .values(active_matches=col(Offer.active_matches) - 1, version=col(Offer.version) + 1, updated_at=now)
    )
