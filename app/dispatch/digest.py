"""The worker's daily digest of nearby-need alerts (app.notifications.digest), with the one fact
the notifications domain cannot read itself: which alerted needs an alert would still tell the
member of."""

import logging
import uuid

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.periodic import Periodic
from app.core.timeutil import utcnow
from app.needs.models import Need, NeedStatus
from app.needs.search import listed_publicly, status_filter
from app.notifications.digest import send_digests
from app.safety import blocks

log = logging.getLogger("app.dispatch.digest")


async def open_needs(session: AsyncSession, member_id: uuid.UUID, need_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Of `need_ids`, those an alert would still tell this member of: still open (not matched,
    fulfilled, cancelled, nor past its window), still in public view (public, its requester not
    suspended), and neither of the two blocked by the other (docs/safety.md: blocked members
    never meet, alerts included)."""
    stmt = select(Need.id).where(
        col(Need.id).in_(need_ids),
        status_filter(NeedStatus.open),
        listed_publicly(utcnow()),
        blocks.not_blocked_with(col(Need.requester_id), member_id),
    )
    return set((await session.exec(stmt)).all())


async def _in_worker(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    sent = await send_digests(sessions, settings, open_needs=open_needs)
    if sent:
        log.info("alert digests: %d queued", sent)


def periodic(settings: Settings) -> Periodic:
    """The worker's digest job (the first at start-up), every ALERT_DIGEST_INTERVAL_SECONDS."""
    return Periodic(settings.alert_digest_interval_seconds, _in_worker)
