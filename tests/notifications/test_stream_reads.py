"""When streams read the database (app.notifications.hub): on opening and on a wake-up, never on a
heartbeat; one look over all open streams wakes only those with news; a failed read keeps the
stream and delivers later without loss or repeat; a member shut out loses their stream."""

import asyncio
import contextlib
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import col, select

from app.auth.standing import shut_out
from app.core.timeutil import utcnow
from app.members import sessions
from app.members.accounts import MemberSession
from app.members.models import Member
from app.notifications import service
from app.notifications.hub import StreamHub
from tests.conftest import IS_POSTGRES, app_for_test
from tests.factories import PASSWORD, member
from tests.notifications.test_stream import _seed, events
from tests.sql import statements


def inbox_reads(seen: list[str]) -> int:
    """Statements that read an inbox after a `seq`: a stream's read (`service.after`)."""
    return sum("FROM notifications WHERE" in s and "notifications.seq >" in s for s in seen)


def looks(seen: list[str]) -> int:
    """The hub's looks: one statement over every open stream's counter."""
    return sum(s.startswith("SELECT notification_counters.member_id") for s in seen)


@contextlib.asynccontextmanager
async def served(database_url: str, **overrides: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app with these settings and a client of it; on SQLite, on a file, as a deployment has.

    These tests write while streams are open. In memory, every session shares one connection, so
    the hub's look could roll back a write another session had made but not yet committed (a
    suspension never seen), or see a notification's counter before its row: a database with
    transactions isolated does neither."""
    # One path per process: the app built for each set of settings is reused (app_for_test).
    path = Path(tempfile.gettempdir()) / f"mutual-aid-streams-{os.getpid()}.db"
    ends = ("", "-wal", "-shm", "-journal")
    files = [] if IS_POSTGRES else [path.with_name(f"{path.name}{end}") for end in ends]
    for file in files:
        file.unlink(missing_ok=True)
    url = database_url if IS_POSTGRES else f"sqlite+aiosqlite:///{path}"
    try:
        async with app_for_test(url, **overrides) as application:
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield application, client
    finally:
        for file in files:
            file.unlink(missing_ok=True)


async def test_a_heartbeat_reads_nothing_and_one_look_serves_every_stream(database_url: str) -> None:
    async with served(database_url, notification_stream_max_seconds=1.0) as (application, client):
        people = [await member(client) for _ in range(3)]
        hub: StreamHub = application.state.notification_streams
        passes = hub.passes
        with statements(application) as seen:
            answers = await asyncio.gather(
                *(client.get("/v1/notifications/stream", headers=p.headers) for p in people)
            )
        passes = hub.passes - passes
    bodies = [a.text for a in answers]
    assert [a.status_code for a in answers] == [200, 200, 200]
    # A heartbeat every 0.1 s for a second: each stream sent several, and read its inbox once,
    # when it opened; the only other reads of new notifications were the hub's, one statement a look.
    assert all(body.count(": ping") >= 5 for body in bodies)
    assert inbox_reads(seen) == 3
    assert passes >= 5
    assert looks(seen) == passes


async def test_the_look_wakes_only_the_streams_with_news(database_url: str) -> None:
    async with served(database_url) as (application, client):
        a, b, c = [await member(client) for _ in range(3)]
        await _seed(application, b.id, 1, actor=None)  # b's stream opens after this one: no news
        hub: StreamHub = application.state.notification_streams
        async with (
            hub.open(uuid.UUID(a.id), after_seq=0) as sa,
            hub.open(uuid.UUID(b.id), after_seq=1) as sb,
            hub.open(uuid.UUID(c.id), after_seq=0) as sc,
        ):
            for stream in (sa, sb, sc):
                stream.woken.clear()
            await _seed(application, a.id, 1, actor=None)
            # (The hub's own looks run meanwhile too, every poll: they may only wake the same one.)
            await hub.look(check_standing=False)
            assert (sa.woken.is_set(), sb.woken.is_set(), sc.woken.is_set()) == (True, False, False)
            assert (sa.target, sb.target, sc.target) == (1, 0, 0)


async def test_a_failed_read_keeps_the_stream_and_delivers_later_exactly(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_after = service.after
    failures = 0

    async def after_the_pool_times_out_twice(*args: Any, **kwargs: Any) -> Any:
        nonlocal failures
        if failures < 2:
            failures += 1
            raise PoolTimeout("QueuePool limit reached, connection timed out")
        return await real_after(*args, **kwargs)

    async with served(database_url, notification_stream_max_seconds=4.0) as (application, client):
        someone = await member(client)
        ids = await _seed(application, someone.id, 3, actor=None)
        monkeypatch.setattr(service, "after", after_the_pool_times_out_twice)
        headers = {**someone.headers, "Last-Event-ID": str(ids[0])}
        streaming = asyncio.create_task(client.get("/v1/notifications/stream", headers=headers))
        await asyncio.sleep(0.5)  # while the stream's reads are failing
        ids += await _seed(application, someone.id, 1, actor=None)
        answer = await streaming
    assert failures == 2
    assert answer.status_code == 200
    assert [i for i, _ in events(answer.text)] == [str(i) for i in ids[1:]]


async def test_a_suspended_members_stream_ends(database_url: str) -> None:
    async with served(database_url, notification_stream_max_seconds=30.0) as (application, client):
        someone, other = await member(client), await member(client)
        started = time.monotonic()
        theirs = asyncio.create_task(client.get("/v1/notifications/stream", headers=someone.headers))
        others = asyncio.create_task(client.get("/v1/notifications/stream", headers=other.headers))
        await asyncio.sleep(0.5)
        async with application.state.sessionmaker() as session:
            suspend = update(Member).where(col(Member.id) == uuid.UUID(someone.id))
            await session.exec(suspend.values(suspended_at=utcnow()))
            await session.commit()
        answer = await asyncio.wait_for(theirs, 10)
        assert answer.status_code == 200
        assert time.monotonic() - started < 10  # not the 30 s the settings allow
        assert not others.done()  # a member still allowed keeps theirs
        others.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await others


async def test_a_stream_ends_with_the_login_that_opened_it(database_url: str) -> None:
    """A logout, a password change or a revoked session gets the token 401 from the next
    request; a stream that token opened ends too (within a heartbeat), and another login's
    stream of the same member goes on."""
    async with served(database_url, notification_stream_max_seconds=30.0) as (application, client):
        someone = await member(client)
        form = {"username": someone.data["email"], "password": PASSWORD}
        other_login = (await client.post("/v1/auth/token", data=form)).json()["access_token"]
        others = {"Authorization": f"Bearer {other_login}"}
        started = time.monotonic()
        theirs = asyncio.create_task(client.get("/v1/notifications/stream", headers=someone.headers))
        kept = asyncio.create_task(client.get("/v1/notifications/stream", headers=others))
        await asyncio.sleep(0.5)
        assert (await client.post("/v1/auth/logout", headers=someone.headers)).status_code == 204
        answer = await asyncio.wait_for(theirs, 10)
        assert answer.status_code == 200
        assert time.monotonic() - started < 10  # not the 30 s the settings allow
        assert (await client.get("/v1/members/me", headers=someone.headers)).status_code == 401
        ids = await _seed(application, someone.id, 1, actor=None)  # the other login's stream goes on
        await asyncio.sleep(0.5)
        assert not kept.done()
        sessions = (await client.get("/v1/members/me/sessions", headers=others)).json()["items"]
        [current] = [s["id"] for s in sessions]
        assert (await client.delete(f"/v1/members/me/sessions/{current}", headers=others)).status_code == 204
        answer = await asyncio.wait_for(kept, 10)
        assert [i for i, _ in events(answer.text)] == [str(i) for i in ids]


async def test_ended_among_agrees_with_the_session_check(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    someone = await member(client)
    form = {"username": someone.data["email"], "password": PASSWORD}
    for _ in range(3):
        assert (await client.post("/v1/auth/token", data=form)).status_code == 200
    async with application.state.sessionmaker() as session:
        rows = (await session.exec(select(MemberSession).order_by(col(MemberSession.created_at)))).all()
        live, revoked, expired, _ = [row.id for row in rows]
        now = utcnow()
        await session.exec(
            update(MemberSession).where(col(MemberSession.id) == revoked).values(revoked_at=now)
        )
        await session.exec(
            update(MemberSession)
            .where(col(MemberSession.id) == expired)
            .values(expires_at=now - timedelta(seconds=1))
        )
        await session.commit()
        unknown = uuid.uuid4()
        ended = await sessions.ended_among(session, session_ids=[live, revoked, expired, unknown])
        for one in (live, revoked, expired):
            alive = await sessions.member_of(session, member_id=uuid.UUID(someone.id), session_id=one)
            assert (alive is None) == (one in ended)
    assert ended == {revoked, expired, unknown}


async def test_shut_out_agrees_with_allowed(client: httpx.AsyncClient, application: FastAPI) -> None:
    fine, suspended, lapsed, erased = [uuid.UUID((await member(client)).id) for _ in range(4)]
    unknown = uuid.uuid4()
    now = utcnow()
    changes = {
        suspended: {"suspended_at": now, "suspended_until": now + timedelta(days=1)},
        lapsed: {"suspended_at": now - timedelta(days=2), "suspended_until": now - timedelta(days=1)},
        erased: {"erased_at": now},
    }
    async with application.state.sessionmaker() as session:
        for member_id, values in changes.items():
            await session.exec(update(Member).where(col(Member.id) == member_id).values(**values))
        await session.commit()
        gone = await shut_out(session, member_ids=[fine, suspended, lapsed, erased, unknown])
    assert gone == {suspended, erased, unknown}


async def test_latest_seqs_over_more_members_than_one_sqlite_statement_binds(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    someone = await member(client)
    await _seed(application, someone.id, 2, actor=None)
    # Never-notified members have no counter; 1,200 of them take three SQLite chunks.
    members = [uuid.uuid4() for _ in range(1200)] + [uuid.UUID(someone.id)]
    async with application.state.sessionmaker() as session:
        assert await service.latest_seqs(session, members=members) == {uuid.UUID(someone.id): 2}


async def test_the_hubs_looks_go_on_after_an_unexpected_error(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with served(database_url) as (application, client):
        someone = await member(client)
        hub: StreamHub = application.state.notification_streams
        real_latest = service.latest_seqs
        crashes = 0
        crashed = asyncio.Event()

        async def latest_crashing_once(*args: Any, **kwargs: Any) -> Any:
            nonlocal crashes
            if crashes == 0:
                crashes += 1
                crashed.set()
                raise RuntimeError("a bug in one look")
            return await real_latest(*args, **kwargs)

        monkeypatch.setattr(service, "latest_seqs", latest_crashing_once)
        async with hub.open(uuid.UUID(someone.id), after_seq=0) as stream:
            stream.woken.clear()
            await asyncio.wait_for(crashed.wait(), 10)
            await _seed(application, someone.id, 1, actor=None)
            # The look after the crash still runs (every poll, 0.05 s here) and wakes the stream.
            await asyncio.wait_for(stream.woken.wait(), 10)
            assert crashes == 1
