"""`python -m app worker`: run delivery passes until SIGTERM or SIGINT, then exit cleanly."""

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker
from app.core.periodic import Periodic
from app.core.timeutil import utcnow
from app.observability.logs import configure_logging
from app.webhooks.delivery import make_client
from app.webhooks.vapid import check_configured
from app.webhooks.worker import purge_finished, run_once

# The delivery log is kept for `webhook_retention_days`; sweeping it hourly is plenty.
PURGE_EVERY_SECONDS = 3600.0

log = logging.getLogger("app.webhooks.worker")


async def serve(
    settings: Settings, stop: asyncio.Event | None = None, periodic: Sequence[Periodic] = ()
) -> None:
    """Loop over passes; a signal lets the pass in flight finish (its deliveries are recorded)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    engine = make_engine(settings)
    sessions = make_sessionmaker(engine, settings)
    log.info("webhook worker started")
    next_purge = 0.0
    next_upkeep = [0.0] * len(periodic)
    try:
        async with make_client(settings) as client:
            while not stop.is_set():
                done = 0
                try:
                    if time.monotonic() >= next_purge:
                        next_purge = time.monotonic() + PURGE_EVERY_SECONDS
                        await _purge(sessions, settings)
                    for i, job in enumerate(periodic):
                        if time.monotonic() >= next_upkeep[i]:
                            next_upkeep[i] = time.monotonic() + job.every_seconds
                            await job.run(sessions, settings)
                    done = await run_once(sessions, settings, client)
                except* (DBAPIError, PoolTimeout) as group:
                    # A database outage is waited out; what was claimed is retried when its lease ends.
                    names = sorted({type(e).__name__ for e in group.exceptions})
                    log.warning("webhook worker: database unavailable (%s)", ", ".join(names))
                if done == 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), settings.webhook_poll_seconds)
    finally:
        await engine.dispose()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("webhook worker stopped")


async def _purge(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    cutoff = utcnow() - timedelta(days=settings.webhook_retention_days)
    deliveries, events = await purge_finished(sessions, older_than=cutoff)
    if deliveries or events:
        log.info("webhook log retention: %d deliveries and %d events forgotten", deliveries, events)


def quiet_http_client_logs() -> None:
    # httpx logs every request's URL at INFO, and a receiver's URL may carry its own token.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def main(settings: Settings, periodic: Sequence[Periodic] = ()) -> None:
    # The same JSON lines as the API's, so one log pipeline reads both processes.
    configure_logging(settings.log_level, json=settings.log_json)
    check_configured(settings)
    quiet_http_client_logs()
    asyncio.run(serve(settings, periodic=periodic))
