"""Needs filed for someone belong to the organisation: the filer's rights follow their current role."""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import col, delete

from app.organizations.models import Membership
from tests.factories import (
    ALL_SCOPES,
    Member,
    api_key,
    assert_problem,
    join,
    member,
    need_body,
    offer_body,
    organization,
)

HERE = {"lat": 51.5, "lon": -0.12}
ADDRESS, CONTACT = "Flat 9, Example Court", {"name": "Robin Example", "phone": "+44 20 7946 0999"}
VOLUNTEER_PHONE = "+44 7700 900555"
PRIVATE = ("location", "address", "contact", "requester_id", "filed_by", "external_id")


@dataclass
class Desk:
    """An organisation with a lead coordinator and a second one who files a need for someone."""

    client: httpx.AsyncClient
    org: str
    lead: Member
    filer: Member
    volunteer: Member
    need: str
    match: str  # the filer's proposal, accepted by the volunteer
    proposal: str  # the lead's proposal to another volunteer, not yet answered

    async def get(self, path: str, who: Member) -> httpx.Response:
        return await self.client.get(path, headers=who.headers)

    async def audit(self) -> list[dict]:
        r = await self.get(f"/v1/organizations/{self.org}/audit?limit=100", self.lead)
        assert r.status_code == 200, r.text
        items: list[dict] = r.json()["items"]
        return items


async def _offer(client: httpx.AsyncClient, who: Member) -> str:
    r = await client.post("/v1/offers", json=offer_body(location=HERE, availability=[]), headers=who.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _desk(client: httpx.AsyncClient, visibility: str) -> Desk:
    lead, filer = await member(client), await member(client)
    volunteer, other = await member(client, phone=VOLUNTEER_PHONE), await member(client)
    org = (await organization(client, lead))["id"]
    await join(client, lead, org, filer, role="coordinator")
    body = need_body(
        organization_id=org,
        visibility=visibility,
        location=HERE,
        address=ADDRESS,
        contact=CONTACT,
        volunteers_needed=2,
    )
    r = await client.post("/v1/needs", json=body, headers=filer.headers)
    assert r.status_code == 201, r.text
    need = r.json()
    assert need["requester_id"] is None
    assert need["filed_by"] == {"kind": "member", "id": filer.id}
    pair = {"need_id": need["id"], "offer_id": await _offer(client, volunteer)}
    match = (await client.post("/v1/matches", json=pair, headers=filer.headers)).json()
    accepted = await client.post(f"/v1/matches/{match['id']}/accept", headers=volunteer.headers)
    assert accepted.status_code == 200, accepted.text
    second = {"need_id": need["id"], "offer_id": await _offer(client, other)}
    proposal = await client.post("/v1/matches", json=second, headers=lead.headers)
    assert (proposal.status_code, proposal.json()["status"]) == (201, "proposed"), proposal.text
    return Desk(client, org, lead, filer, volunteer, need["id"], match["id"], proposal.json()["id"])


async def _reads_as_coordinator(d: Desk) -> None:
    """The filer, still a coordinator: owner view, the volunteer's phone, an edit; all audited."""
    read = (await d.get(f"/v1/needs/{d.need}", d.filer)).json()
    assert (read["view"], read["address"], read["filed_by"]) == (
        "owner",
        ADDRESS,
        {"kind": "member", "id": d.filer.id},
    )
    shown = (await d.get(f"/v1/matches/{d.match}", d.filer)).json()
    assert shown["volunteer"]["phone"] == VOLUNTEER_PHONE
    r = await d.client.patch(
        f"/v1/needs/{d.need}", json={"title": "Shopping, twice"}, headers=d.filer.headers
    )
    assert r.status_code == 200, r.text


async def _demote(application: FastAPI, d: Desk) -> None:
    await join(d.client, d.lead, d.org, d.filer, role="volunteer")


async def _remove(application: FastAPI, d: Desk) -> None:
    # No route removes a member yet; the row going is what removal means to every check.
    async with application.state.sessionmaker() as session:
        await session.exec(
            delete(Membership).where(
                col(Membership.organization_id) == uuid.UUID(d.org),
                col(Membership.member_id) == uuid.UUID(d.filer.id),
            )
        )
        await session.commit()


async def _has_no_owner_rights(d: Desk, visibility: str) -> None:
    c, filer = d.client, d.filer
    read = await d.get(f"/v1/needs/{d.need}", filer)
    if visibility == "organization":
        assert_problem(read, 404)
    else:
        assert (read.status_code, read.json()["view"]) == (200, "public")
        assert not set(PRIVATE) & read.json().keys()
        assert ADDRESS not in read.text
        assert CONTACT["phone"] not in read.text
    # A need they can still see (public) refuses the change; one they cannot is not there.
    refused = 403 if visibility == "public" else 404
    assert_problem(
        await c.patch(f"/v1/needs/{d.need}", json={"title": "Mine"}, headers=filer.headers), refused
    )
    assert_problem(await c.post(f"/v1/needs/{d.need}/cancel", headers=filer.headers), refused)
    assert_problem(await d.get(f"/v1/needs/{d.need}/candidates", filer), refused)
    assert_problem(await d.get(f"/v1/matches/{d.match}", filer), 404)
    for step in ("accept", "decline", "cancel"):
        assert_problem(await c.post(f"/v1/matches/{d.proposal}/{step}", headers=filer.headers), 404)
    for step in ("complete", "cancel"):
        assert_problem(await c.post(f"/v1/matches/{d.match}/{step}", headers=filer.headers), 404)
    assert (await d.get(f"/v1/matches?need_id={d.need}", filer)).json()["items"] == []
    assert VOLUNTEER_PHONE not in (await d.get("/v1/matches", filer)).text
    needs = (await d.get("/v1/needs?limit=100", filer)).json()["items"]
    assert all(n["view"] == "public" for n in needs if n["id"] == d.need)
    assert_problem(await d.get(f"/v1/organizations/{d.org}/audit", filer), 404)
    # Their own audit never listed who read the organisation's need.
    assert (await d.get("/v1/members/me/audit", filer)).json()["items"] == []


Change = Callable[[FastAPI, Desk], Awaitable[None]]


@pytest.mark.parametrize("visibility", ["public", "organization"])
@pytest.mark.parametrize("change", [_demote, _remove], ids=["demoted", "removed"])
async def test_a_filer_loses_every_owner_right_with_the_role(
    client: httpx.AsyncClient, application: FastAPI, visibility: str, change: Change
) -> None:
    d = await _desk(client, visibility)
    await _reads_as_coordinator(d)
    await change(application, d)
    await _has_no_owner_rights(d, visibility)
    # The organisation's audit lists every exposure the filer had while a coordinator, newest
    # first: the edit's answer, the volunteer's phone, the read.
    theirs = [
        (e["fields"], e["reason"], e["need_id"]) for e in await d.audit() if e["actor"]["id"] == d.filer.id
    ]
    whole = ["location", "address", "contact"]
    assert theirs == [
        (whole, "coordinator", d.need),
        (["phone"], "coordinator", d.need),
        (whole, "coordinator", d.need),
    ]
    # Its coordinators keep every right: nothing was lost with the filer.
    assert (await d.get(f"/v1/needs/{d.need}", d.lead)).json()["address"] == ADDRESS
    cancelled = await client.post(f"/v1/matches/{d.proposal}/cancel", headers=d.lead.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert (await d.get(f"/v1/matches/{d.match}", d.lead)).json()["volunteer"]["phone"] == VOLUNTEER_PHONE


async def test_a_filer_made_coordinator_again_regains_the_need(client: httpx.AsyncClient) -> None:
    d = await _desk(client, "organization")
    await join(client, d.lead, d.org, d.filer, role="volunteer")
    assert_problem(await d.get(f"/v1/needs/{d.need}", d.filer), 404)
    await join(client, d.lead, d.org, d.filer, role="coordinator")
    read = await d.get(f"/v1/needs/{d.need}", d.filer)
    assert (read.json()["view"], read.json()["address"]) == ("owner", ADDRESS)
    assert (await d.get(f"/v1/matches/{d.match}", d.filer)).json()["volunteer"]["phone"] == VOLUNTEER_PHONE
    # Read again as a coordinator, so audited again.
    assert [e["fields"] for e in await d.audit() if e["actor"]["id"] == d.filer.id] == [
        ["phone"],
        ["location", "address", "contact"],
    ]


async def test_a_members_own_need_stays_theirs_and_a_keys_records_the_key(client: httpx.AsyncClient) -> None:
    lead, asker = await member(client), await member(client)
    org = (await organization(client, lead))["id"]
    await join(client, lead, org, asker)
    own = (await client.post("/v1/needs", json=need_body(organization_id=org), headers=asker.headers)).json()
    assert (own["requester_id"], own["filed_by"]) == (asker.id, None)
    # A coordinator's need outside any organisation is their own too.
    mine = (await client.post("/v1/needs", json=need_body(), headers=lead.headers)).json()
    assert (mine["requester_id"], mine["filed_by"]) == (lead.id, None)
    key = await api_key(client, lead, org, ALL_SCOPES)
    filed = (await client.post("/v1/needs", json=need_body(), headers=key["headers"])).json()
    assert (filed["requester_id"], filed["filed_by"]) == (None, {"kind": "api_key", "id": key["id"]})
    assert filed["organization_id"] == org
    # The key is revoked: it acts for nobody; the organisation's coordinators still own the need.
    r = await client.delete(f"/v1/organizations/{org}/api-keys/{key['id']}", headers=lead.headers)
    assert r.status_code == 204
    assert_problem(await client.get(f"/v1/needs/{filed['id']}", headers=key["headers"]), 401)
    assert (await client.get(f"/v1/needs/{filed['id']}", headers=lead.headers)).json()["view"] == "owner"
