"""Erasing an account: nothing of the person is left in any table, the people they dealt with
are told, and the audit keeps its rows under the member's pseudonym."""

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlmodel import SQLModel

import app.models  # noqa: F401  (every table)
from tests.datarights.world import SECRETS, everything
from tests.factories import PASSWORD, assert_problem


async def _dump(application: FastAPI) -> str:
    """Every row of every table, as text."""
    parts = []
    async with application.state.engine.connect() as connection:  # rows, not ORM entities
        for table in SQLModel.metadata.sorted_tables:
            rows = (await connection.execute(select(table))).all()
            parts.append(f"{table.name}: {[tuple(r) for r in rows]!r}")
    return "\n".join(parts)


async def _count(application: FastAPI, sql: str, **params: Any) -> int:
    async with application.state.engine.connect() as connection:
        return int((await connection.execute(text(sql), params)).scalar_one())


async def test_a_wrong_password_is_403_and_erases_nothing(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    w = await everything(client)
    before = await _dump(application)
    r = await client.request(
        "DELETE", "/v1/members/me", json={"password": "not the password"}, headers=w.person.headers
    )
    assert_problem(r, 403)
    assert await _dump(application) == before
    assert (await client.get("/v1/members/me", headers=w.person.headers)).status_code == 200


async def test_erasure_leaves_nothing_of_the_person(client: httpx.AsyncClient, application: FastAPI) -> None:
    w = await everything(client)
    dump = await _dump(application)
    assert all(secret in dump for secret in SECRETS)  # the test sees them before
    me = w.person.id.replace("-", "")
    audited = "SELECT count(*) FROM audit_events WHERE subject_member_id = :m OR subject_member_id = :h"
    assert await _count(application, audited, m=w.person.id, h=me) >= 1

    r = await client.request(
        "DELETE", "/v1/members/me", json={"password": PASSWORD}, headers=w.person.headers
    )
    assert r.status_code == 204, r.text

    dump = await _dump(application)
    assert [s for s in SECRETS if s in dump] == []
    assert (await client.get("/v1/members/me", headers=w.person.headers)).status_code == 401
    # Audit rows stay, under the member's id: a random id whose row now names no one.
    assert await _count(application, audited, m=w.person.id, h=me) >= 1
    # The other side of each match heard it ended; the waitlisted member got the freed place.
    for other in (w.volunteer, w.requester):
        inbox = (await client.get("/v1/notifications", headers=other.headers)).json()["items"]
        assert "match.cancelled" in {n["type"] for n in inbox}
    place = await client.get(f"/v1/activities/{w.org_activity}", headers=w.waiting.headers)
    assert place.json()["my_status"] == "confirmed"
    # The organisation still has the need, anonymised, and cancelled.
    need = (await client.get(f"/v1/needs/{w.org_need_id}", headers=w.coordinator.headers)).json()
    assert (need["status"], need["address"], need["contact"], need["description"]) == (
        "cancelled",
        None,
        None,
        None,
    )
    assert need["title"] == "Erased at the member's request"
