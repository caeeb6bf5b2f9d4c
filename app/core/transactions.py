"""Who commits: the request's session dependency, and the few named owners of their own work.

A request's writes are committed once, by `app.core.deps.get_session`, before its response is
sent; services only flush (a matching run too: it proposes inside the request's transaction).
Work that is not a request's (the webhook worker, the idempotency key store) commits through
`commit_own`, so every commit outside the dependency is visible by that name; the demo seed, a
command of its own, writes in one `engine.begin()` block. `savepoint` lets a service try a
write whose failure it answers (a duplicate is a 409) without spoiling the request's transaction.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSessionTransaction
from sqlmodel.ext.asyncio.session import AsyncSession

from app.observability.logs import get_logger

log = get_logger(__name__)


async def commit_own(session: AsyncSession) -> None:
    """Commit work this caller owns outright (not a request's): the worker's claims and
    outcomes, a batch run's proposals, an idempotency claim others must see at once, a replay's
    read with its audit rows (the replay ends the request before its own commit), the seed."""
    await session.commit()


@asynccontextmanager
async def savepoint(session: AsyncSession) -> AsyncIterator[AsyncSessionTransaction]:
    """SAVEPOINT ... RELEASE around a write, flushed on exit: an IntegrityError raised by it
    undoes only this block, and the request's transaction stays usable (on Postgres an error
    otherwise aborts the whole transaction)."""
    async with session.begin_nested() as nested:
        yield nested


async def discard(session: AsyncSession) -> None:
    """Roll back after a failure that already decides the answer: if the rollback fails too
    (the database is gone), nothing was committed, so that is logged and the first error stands."""
    try:
        await session.rollback()
    except Exception as exc:
        log.warning("rollback failed after an error", error=type(exc).__name__)


async def release(session: AsyncSession, *, answered: bool) -> None:
    """Give the session's connection back. Before the response has started, a failure is the
    database's outage and the client hears of it (503, by the DBAPIError handler). Once the
    response has started, the client already has its answer: a failure to release is logged
    and swallowed, so it can never cut that answer off."""
    if not answered:
        await session.close()
        return
    try:
        await session.close()
    except Exception as exc:
        log.warning("could not release a database connection after answering", error=_name(exc))


def _name(exc: BaseException) -> str:
    orig: Any = getattr(exc, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None)
    return f"{type(exc).__name__} ({sqlstate})" if sqlstate else type(exc).__name__


AfterCommit = Callable[[], Awaitable[None]]
_AFTER_COMMIT = "after_commit"


def after_commit(session: AsyncSession, run: AfterCommit) -> None:
    """Run `run` once the request that owns `session` has committed and answered, in its own
    transactions (app.dispatch.fanout: the nearby-need alerts). Work that must not be lost is
    made durable in the transaction first: a rollback, or a process that dies before `run`,
    drops only the call, never what it was to do. Outside a request nothing runs it."""
    session.info.setdefault(_AFTER_COMMIT, []).append(run)


def take_after_commit(session: AsyncSession) -> list[AfterCommit]:
    """What `after_commit` asked of this session, now that it committed (each call once)."""
    taken: list[AfterCommit] = session.info.pop(_AFTER_COMMIT, [])
    return taken
