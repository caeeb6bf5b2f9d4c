"""Nearby-need alerts sent after the need commits, from a durable row (`alert_fanouts`).

The transaction that makes a need public writes one row for it (`queue`), and nothing else of
the alerts. Once that request has committed and answered, its process sends them (`send`), one
need per transaction of its own: the row is deleted first (whoever deletes it sends the alerts,
so they go out once), then the fan-out of app.dispatch.alerts takes the volunteers' allowance
rows and inbox counters and writes the alerts, and the commit releases them at once. A process
that dies between the need's commit and that one leaves the row; the worker sends what is
older than `STALE` (`sweep`).

Why not in the request's transaction (as before): every fan-out of a busy place takes the same
volunteers' allowance rows, so concurrent need creations queued on one another until each
commit, and each held its author's member row (the daily quota's lock) all that while, which
stalled that member's claims, acceptances and messages (docs/benchmarks.md, issue 15 target 5).
"""

import asyncio
import logging
import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import delete, insert, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.db import make_sessionmaker, settings_of
from app.core.periodic import Periodic
from app.core.timeutil import utcnow
from app.core.transactions import after_commit, commit_own
from app.dispatch.alerts import alert_nearby
from app.dispatch.models import AlertFanout
from app.needs.models import Need

log = logging.getLogger("app.dispatch.fanout")

# Rows older than this are the worker's: their request's process has had ample time, or died.
STALE = timedelta(seconds=60)
SWEEP_EVERY_SECONDS = 30.0
SWEEP_BATCH = 200

# One fan-out at a time per process: they take the same volunteers' rows, so more at once only
# queue in the database, each holding a pooled connection the requests need. A lock per event
# loop (a lock serves one loop); those of loops that have ended are dropped.
_one_at_a_time: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}


def _lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    if loop not in _one_at_a_time:
        for ended in [other for other in _one_at_a_time if other.is_closed()]:
            del _one_at_a_time[ended]
        _one_at_a_time[loop] = asyncio.Lock()
    return _one_at_a_time[loop]


async def queue(session: AsyncSession, *, needs: Sequence[Need], actor: uuid.UUID | None) -> None:
    """In the caller's transaction: a row per need, and their sending once the request has
    committed (a rollback takes both)."""
    if not needs:
        return
    now = utcnow()
    ids = [uuid.uuid4() for _ in needs]
    rows = [
        {"id": i, "need_id": n.id, "actor_id": actor, "created_at": now}
        for i, n in zip(ids, needs, strict=True)
    ]
    await session.exec(insert(AlertFanout).values(rows))
    sessions = make_sessionmaker(_engine(session), settings_of(session))

    async def run() -> None:
        await send(sessions, ids)

    after_commit(session, run)


def _engine(session: AsyncSession) -> AsyncEngine:
    bind = session.bind
    assert isinstance(bind, AsyncEngine), "sessions are made on an AsyncEngine"
    return bind


async def send(sessions: async_sessionmaker[AsyncSession], ids: Sequence[uuid.UUID]) -> int:
    """Send the alerts of these rows, one transaction each; how many rows this call took. A row
    another process took, or a failure (logged; its row stays for the worker), sends nothing."""
    taken = 0
    for fanout_id in ids:
        # Taken a row at a time: a partner's batch of 500 needs does not hold every other
        # need's alerts in this process until its last.
        async with _lock():
            try:
                taken += await _send_one(sessions, fanout_id)
            except Exception:
                log.exception("nearby-need alerts: fan-out %s failed; kept to try later", fanout_id)
                await _later(sessions, fanout_id)
    return taken


async def _later(sessions: async_sessionmaker[AsyncSession], fanout_id: uuid.UUID) -> None:
    """A row whose fan-out failed goes to the back of the worker's queue (tried again after
    `STALE`), so rows that keep failing never hold up the others."""
    try:
        async with sessions() as session:
            stmt = update(AlertFanout).where(col(AlertFanout.id) == fanout_id).values(created_at=utcnow())
            await session.exec(stmt)
            await commit_own(session)
    except Exception:
        log.exception("nearby-need alerts: fan-out %s could not be put back in the queue", fanout_id)


async def _send_one(sessions: async_sessionmaker[AsyncSession], fanout_id: uuid.UUID) -> int:
    async with sessions() as session:
        # First, so the row's lock is the first this transaction takes: another process sending
        # the same row waits here, then finds it gone.
        stmt = (
            delete(AlertFanout)
            .where(col(AlertFanout.id) == fanout_id)
            .returning(col(AlertFanout.need_id), col(AlertFanout.actor_id))
        )
        found = (await session.exec(stmt)).first()
        if found is None:
            return 0
        need = await session.get(Need, found[0])
        if need is not None:
            # Read now: a need made private, cancelled or matched since alerts no one.
            settings = settings_of(session)
            await alert_nearby(
                session,
                need=need,
                actor=found[1],
                per_day=settings.alerts_per_day,
                per_source=settings.alerts_per_source_per_day,
            )
        await commit_own(session)
        return 1


async def sweep(sessions: async_sessionmaker[AsyncSession], *, older_than: timedelta = STALE) -> int:
    """The worker's pass: send up to `SWEEP_BATCH` of the rows left older than `older_than`,
    oldest first; how many it took. One batch a pass, so the worker's other jobs (webhooks,
    mail, push) are never held up for long; a backlog drains a batch every pass."""
    async with sessions() as session:
        stmt = (
            select(AlertFanout.id)
            .where(col(AlertFanout.created_at) <= utcnow() - older_than)
            .order_by(col(AlertFanout.created_at))
            .limit(SWEEP_BATCH)
        )
        ids = list((await session.exec(stmt)).all())
    return await send(sessions, ids) if ids else 0


async def _in_worker(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    sent = await sweep(sessions)
    if sent:
        log.info("nearby-need alerts: %d fan-outs left by their request sent", sent)


def periodic(settings: Settings) -> Periodic:
    """The worker's sweep of fan-outs their request's process did not send."""
    return Periodic(SWEEP_EVERY_SECONDS, _in_worker)
