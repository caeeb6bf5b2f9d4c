"""The anonymous read of a public need: one statement, which asks the clock on every read."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import col

from app.members.models import Member as MemberRow
from tests.factories import assert_problem, member, need_body
from tests.sql import statements


async def _suspend_until(application: FastAPI, member_id: str, until: datetime | None) -> None:
    now = datetime.now(UTC)
    async with application.state.sessionmaker() as session:
        await session.exec(
            update(MemberRow)
            .where(col(MemberRow.id) == uuid.UUID(member_id))
            .values(suspended_at=now - timedelta(hours=1), suspended_until=until)
        )
        await session.commit()


async def test_an_anonymous_read_sends_one_statement(application: FastAPI, client: httpx.AsyncClient) -> None:
    owner = await member(client)
    created = await client.post("/v1/needs", json=need_body(), headers=owner.headers)
    assert created.status_code == 201, created.text
    url = f"/v1/needs/{created.json()['id']}"
    for _ in range(2):  # the first read of a process and a later one alike
        with statements(application) as seen:
            r = await client.get(url)
        assert r.status_code == 200, r.text
        assert r.json()["view"] == "public"
        # The need and its requester's suspension together; no audit row for the public view.
        assert len(seen) == 1, seen
        assert "needs" in seen[0]
        assert "suspended_at" in seen[0]


async def test_the_read_hides_a_suspended_requesters_need_until_the_suspension_lapses(
    application: FastAPI, client: httpx.AsyncClient
) -> None:
    owner = await member(client)
    created = await client.post("/v1/needs", json=need_body(), headers=owner.headers)
    url = f"/v1/needs/{created.json()['id']}"
    assert (await client.get(url)).status_code == 200
    await _suspend_until(application, owner.id, datetime.now(UTC) + timedelta(days=3))
    assert_problem(await client.get(url), 404)
    # The time compared is the read's own, not one fixed when the statement was built.
    await _suspend_until(application, owner.id, datetime.now(UTC) - timedelta(seconds=1))
    assert (await client.get(url)).status_code == 200
    await _suspend_until(application, owner.id, None)
    assert_problem(await client.get(url), 404)
