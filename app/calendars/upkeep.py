"""Reminders run by the worker, every REMINDER_INTERVAL_SECONDS (`python -m app worker`)."""

import logging

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.calendars.reminders import send_due
from app.core.config import Settings
from app.core.periodic import Periodic

log = logging.getLogger("app.calendars.reminders")


async def _in_worker(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    told = await send_due(sessions, settings)
    if told:
        log.info("reminders: %d members told of an occurrence", told)


def periodic(settings: Settings) -> Periodic:
    """The worker's reminder job (the first at start-up)."""
    return Periodic(settings.reminder_interval_seconds, _in_worker)
