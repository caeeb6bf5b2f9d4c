"""Injected dependencies shared by every domain: settings and the database session."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.transactions import discard, release, take_after_commit
from app.observability.middleware import response_started


async def get_settings_dep(request: Request) -> Settings:
    # Async, as every dependency here: FastAPI runs a plain `def` dependency on a worker thread,
    # a hand-off that cost more than the rest of an anonymous read's Python.
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request, background: BackgroundTasks) -> AsyncIterator[AsyncSession]:
    """The request's one transaction: committed once, when the route has returned, or rolled
    back when it raised. With `scope="function"` (below) this runs before the response is sent,
    so a failed commit is the client's answer (503 for an outage), never a 200 for a lost write;
    an audit row commits, or fails, with the read it records. What the request asked to run
    after its commit (`after_commit`) runs once the response is sent; a rollback drops it. That
    takes this function scope: with `scope="request"` the background tasks would already have
    run, and what was asked would be left to the worker."""
    session: AsyncSession = request.app.state.sessionmaker()
    try:
        yield session
        await session.commit()
        for run in take_after_commit(session):
            background.add_task(run)
    except BaseException:
        await discard(session)
        raise
    finally:
        await release(session, answered=response_started(request.scope))


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
