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
from app.needs.search import status_filter, visible_sql
from app.notifications.digest import send_digests

log = logging.getLogger("app.dispatch.digest")


async def still_shown(
    session: AsyncSession, member_id: uuid.UUID, need_ids: set[uuid.UUID]
) -> set[uuid.UUID]:
    """Of `need_ids`, those an alert would still tell this member of: still open (not matched,
    fulfilled, cancelled, nor past its window) and still visible to them as a list shows it
    (app.needs.search.visible_sql, as a member acting for no organisation: public with its
    requester not suspended, or their own, and neither of the two blocked by the other; alerts
    are never of one's own need, so in practice the first)."""
    stmt = select(Need.id).where(
        col(Need.id).in_(need_ids),
        status_filter(NeedStatus.open),
        visible_sql(member_id, frozenset(), utcnow()),
    )
    return set((await session.exec(stmt)).all())


async def _in_worker(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    sent = await send_digests(sessions, settings, still_shown=still_shown)
    if sent:
        log.info("alert digests: %d queued", sent)


def periodic(settings: Settings) -> Periodic:
    """The worker's digest job (the first at start-up), every ALERT_DIGEST_INTERVAL_SECONDS."""
    return Periodic(settings.alert_digest_interval_seconds, _in_worker)
