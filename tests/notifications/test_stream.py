"""The stream in process (the test settings end it after 0.3 s): resuming, headers, the end at the
token's expiry, and the trigger's own rules (the actor, a rollback, each member's order)."""

import time
import uuid
from datetime import timedelta

import httpx
import jwt
from fastapi import FastAPI
from sqlmodel import col, select

from app.core.security import decode_access_token
from app.core.timeutil import utcnow
from app.notifications import service
from app.notifications.models import Notification
from tests.conftest import app_for_test
from tests.factories import member


def events(body: str) -> list[tuple[str, dict]]:
    """(id, data) of each event in a text/event-stream body; comments (heartbeats) skipped."""
    import json

    found = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\n") if line and not line.startswith(":"))
        if "data" in fields:
            found.append((fields.get("id", ""), json.loads(fields["data"])))
    return found


async def _seed(application: FastAPI, member_id: str, count: int, **kwargs) -> list[uuid.UUID]:
    async with application.state.sessionmaker() as session:
        ids = []
        for n in range(count):
            ids += await service.notify(
                session, recipients=[uuid.UUID(member_id)], type="match.accepted", data={"n": n}, **kwargs
            )
        await session.commit()
    return ids


async def test_resumes_after_last_event_id_exactly(client: httpx.AsyncClient, application: FastAPI) -> None:
    someone = await member(client)
    ids = await _seed(application, someone.id, 4, actor=None)
    r = await client.get("/v1/notifications/stream", headers=someone.headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-accel-buffering"] == "no"
    assert events(r.text) == []  # without Last-Event-ID: from now on
    assert ": ping" in r.text  # heartbeats (0.1 s in tests) kept it alive

    resumed = await client.get(
        "/v1/notifications/stream", headers={**someone.headers, "Last-Event-ID": str(ids[1])}
    )
    got = events(resumed.text)
    assert [i for i, _ in got] == [str(ids[2]), str(ids[3])]
    inbox = {
        n["id"]: n for n in (await client.get("/v1/notifications", headers=someone.headers)).json()["items"]
    }
    assert [data for _, data in got] == [inbox[str(ids[2])], inbox[str(ids[3])]]


async def test_an_unknown_or_foreign_last_event_id_starts_from_now(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    one, other = await member(client), await member(client)
    await _seed(application, one.id, 1, actor=None)
    theirs = await _seed(application, other.id, 1, actor=None)
    for last in (str(theirs[0]), str(uuid.uuid4()), "not-an-id"):
        r = await client.get("/v1/notifications/stream", headers={**one.headers, "Last-Event-ID": last})
        assert r.status_code == 200
        assert events(r.text) == []


async def test_the_stream_ends_when_its_token_expires(database_url: str) -> None:
    async with app_for_test(database_url, notification_stream_max_seconds=60.0) as application:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            someone = await member(client)
            settings = application.state.settings
            now = utcnow()
            # JWT times are whole seconds: 3 s from now is 2 to 3 s of life.
            # The session of the member's login, so only the expiry differs from a real token.
            login = someone.headers["Authorization"].removeprefix("Bearer ")
            decoded = decode_access_token(login, settings)
            assert decoded is not None
            claims = {
                "sub": someone.id,
                "sid": str(decoded[1]),
                "iat": now,
                "exp": now + timedelta(seconds=3),
                "typ": "member",
            }
            token = jwt.encode(claims, settings.jwt_secret, algorithm=settings.jwt_algorithm)
            started = time.monotonic()
            r = await client.get("/v1/notifications/stream", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200
            assert time.monotonic() - started < 10  # not the 60 s the settings would allow


async def test_notify_skips_the_actor_repeats_and_nobody(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    a, b = await member(client), await member(client)
    ida, idb = uuid.UUID(a.id), uuid.UUID(b.id)
    async with application.state.sessionmaker() as session:
        made = await service.notify(
            session, recipients=[ida, idb, idb, None], type="match.cancelled", data={"k": "v"}, actor=ida
        )
        assert await service.notify(session, recipients=[ida], type="x.y", data={}, actor=ida) == []
        await session.commit()
        rows = (await session.exec(select(Notification))).all()
    assert [(r.id, r.member_id, r.seq, r.type, r.data) for r in rows] == [
        (made[0], idb, 1, "match.cancelled", {"k": "v"})
    ]


async def test_a_rollback_takes_the_notifications_and_their_numbers(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    someone = await member(client)
    mid = uuid.UUID(someone.id)
    async with application.state.sessionmaker() as session:
        await service.notify(session, recipients=[mid], type="match.accepted", data={}, actor=None)
        await session.rollback()
    await _seed(application, someone.id, 2, actor=None)
    async with application.state.sessionmaker() as session:
        seqs = (await session.exec(select(Notification.seq).where(col(Notification.member_id) == mid))).all()
    assert sorted(seqs) == [1, 2]
