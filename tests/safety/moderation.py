"""Shared steps for the moderation tests: platform admins, and a need with a volunteer on it."""

from typing import Any

import httpx
from fastapi import FastAPI

from app.safety.admins import set_admin
from tests.factories import Member, member, need_body, offer_body

HERE = {"lat": 51.5, "lon": -0.12}


async def admin(client: httpx.AsyncClient, application: FastAPI) -> Member:
    """A member made a platform admin as the command line does it."""
    who = await member(client)
    async with application.state.sessionmaker() as session:
        await set_admin(session, email=who.data["email"], admin=True)
        await session.commit()
    return who


async def public_need(client: httpx.AsyncClient, owner: Member, **overrides: Any) -> dict[str, Any]:
    body = need_body(location=HERE, **overrides)
    r = await client.post("/v1/needs", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def offer(client: httpx.AsyncClient, volunteer: Member, **overrides: Any) -> dict[str, Any]:
    r = await client.post(
        "/v1/offers", json=offer_body(location=HERE, availability=[], **overrides), headers=volunteer.headers
    )
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def accepted_match(
    client: httpx.AsyncClient, requester: Member, volunteer: Member
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The requester's public need, the volunteer's offer, and a match between them, accepted."""
    need = await public_need(client, requester)
    their_offer = await offer(client, volunteer)
    body = {"need_id": need["id"], "offer_id": their_offer["id"]}
    r = await client.post("/v1/matches", json=body, headers=requester.headers)
    assert r.status_code == 201, r.text
    ok = await client.post(f"/v1/matches/{r.json()['id']}/accept", headers=volunteer.headers)
    assert ok.status_code == 200, ok.text
    return need, their_offer, ok.json()


async def report(
    client: httpx.AsyncClient, reporter: Member, subject_type: str, subject_id: str, **extra: Any
) -> httpx.Response:
    body = {"subject_type": subject_type, "subject_id": subject_id, "reason": "harassment", **extra}
    return await client.post("/v1/reports", json=body, headers=reporter.headers)
