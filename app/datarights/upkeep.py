"""Retention run by the worker (every RETENTION_INTERVAL_SECONDS) and by `python -m app purge`."""

import asyncio
import logging

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker
from app.core.periodic import Periodic
from app.datarights.retention import purge

log = logging.getLogger("app.datarights.retention")


async def _in_worker(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    counts = await purge(sessions, settings)
    if any(counts.values()):
        log.info("retention: %s", ", ".join(f"{n} {kind}" for kind, n in counts.items()))


async def _once(settings: Settings, *, dry_run: bool) -> dict[str, int]:
    engine = make_engine(settings)
    try:
        return await purge(make_sessionmaker(engine), settings, dry_run=dry_run)
    finally:
        await engine.dispose()


def report(counts: dict[str, int], *, dry_run: bool) -> str:
    verb = "would purge" if dry_run else "purged"
    return "\n".join(f"{verb} {n} {kind}" for kind, n in counts.items())


def main(settings: Settings, *, dry_run: bool) -> None:
    print(report(asyncio.run(_once(settings, dry_run=dry_run)), dry_run=dry_run))


def periodic(settings: Settings) -> Periodic:
    """The worker's retention job, at RETENTION_INTERVAL_SECONDS (the first at start-up)."""
    return Periodic(settings.retention_interval_seconds, _in_worker)
