"""Rows an older release wrote, which today's input rules would refuse, are still read: no
read or list of them is a 5xx. Views show what is stored; only new input is checked."""

import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import col

from app.needs.models import Need
from tests.factories import member, need_body


async def test_a_contact_name_accepted_before_its_rules_tightened_is_shown_as_stored(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    """Before names refused control and bidirectional-override characters, a contact name
    could hold one; the owner view then validated it again, and every read, list and export of
    that need (and of the whole page it was on) answered 500."""
    owner = await member(client)
    r = await client.post(
        "/v1/needs",
        json=need_body(contact={"name": "Alex", "phone": "+44 20 7946 0000"}),
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    need_id = r.json()["id"]
    old_name = "Al\u202eex\nExample"
    async with application.state.sessionmaker() as session:
        await session.exec(
            update(Need).where(col(Need.id) == uuid.UUID(need_id)).values(contact_name=old_name)
        )
        await session.commit()
    r = await client.get(f"/v1/needs/{need_id}", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["contact"] == {"name": old_name, "phone": "+44 20 7946 0000"}
    r = await client.get("/v1/needs", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert (await client.get("/v1/members/me/export", headers=owner.headers)).status_code == 200
    # And it can be put right: the ETag is readable, the new name is checked as any input.
    r = await client.get(f"/v1/needs/{need_id}", headers=owner.headers)
    fix = {"contact": {"name": "Alex Example", "phone": "+44 20 7946 0000"}}
    r = await client.patch(
        f"/v1/needs/{need_id}", json=fix, headers={**owner.headers, "If-Match": r.headers["ETag"]}
    )
    assert r.status_code == 200, r.text
