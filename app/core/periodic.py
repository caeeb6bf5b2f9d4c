"""Upkeep the background worker runs between its delivery passes (`python -m app worker`,
app.webhooks.process): each domain that owns such work (retention, calendars, alert sweeps and
digests) describes it here, so it need not import the worker, nor bring the worker's mail,
webhook and push clients into every web process that imports the domain."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings


@dataclass(frozen=True)
class Periodic:
    """`run(sessions, settings)` at most once every `every_seconds` seconds, between passes."""

    every_seconds: float
    run: Callable[[async_sessionmaker[AsyncSession], Settings], Awaitable[None]]
