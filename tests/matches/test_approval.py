"""Approval: a volunteer's claim waits for the need's side unless an organisation chose `automatic`;
nothing private reaches the claimant before acceptance."""

from typing import Any

import httpx
from fastapi import FastAPI

from app.vocab import Category, Mode
from tests.factories import (
    ALL_SCOPES,
    Member,
    api_key,
    assert_problem,
    claim,
    join,
    member,
    need_body,
    offer_body,
    organization,
)
from tests.webhooks.support import events, subscribe

HERE = {"lat": 51.5, "lon": -0.12}
NEED_PHONE, ADDRESS, CONTACT_NAME = "+44 20 7946 0999", "Flat 7, Example Lane", "Robin Example"
PRIVATE = (NEED_PHONE, ADDRESS, CONTACT_NAME, "51.5012345", "-0.1234567")  # the exact point


async def _need(client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any) -> httpx.Response:
    body = need_body(
        location={"lat": 51.5012345, "lon": -0.1234567},
        address=ADDRESS,
        contact={"name": CONTACT_NAME, "phone": NEED_PHONE},
        **overrides,
    )
    return await client.post("/v1/needs", json=body, headers=headers)


async def _offer(client: httpx.AsyncClient, volunteer: Member, **overrides: Any) -> str:
    body = offer_body(location=HERE, availability=[], **overrides)
    r = await client.post("/v1/offers", json=body, headers=volunteer.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_only_an_organisation_may_skip_approval(client: httpx.AsyncClient) -> None:
    someone, coordinator, volunteer = await member(client), await member(client), await member(client)
    refused = assert_problem(await _need(client, someone.headers, approval="automatic"), 422)
    assert refused["errors"][0]["loc"] == ["body", "approval"]
    assert "Only an organization" in refused["detail"]
    org = (await organization(client, coordinator))["id"]
    await join(client, coordinator, org, volunteer)
    # A member of the organisation filing under it is still a member, not the organisation.
    assert_problem(await _need(client, volunteer.headers, organization_id=org, approval="automatic"), 422)
    by_coordinator = await _need(client, coordinator.headers, organization_id=org, approval="automatic")
    assert (by_coordinator.status_code, by_coordinator.json()["approval"]) == (201, "automatic")
    key = await api_key(client, coordinator, org, ALL_SCOPES)
    by_key = await _need(client, key["headers"], approval="automatic")
    assert (by_key.status_code, by_key.json()["approval"]) == (201, "automatic")
    # Edits follow the same rule: the member's own need stays requester-approved.
    mine = (await _need(client, volunteer.headers, organization_id=org)).json()
    assert mine["approval"] == "requester"
    url = f"/v1/needs/{mine['id']}"
    assert_problem(await client.patch(url, json={"approval": "automatic"}, headers=volunteer.headers), 422)
    assert (await client.get(url, headers=volunteer.headers)).json()["approval"] == "requester"
    patched = await client.patch(url, json={"approval": "automatic"}, headers=coordinator.headers)
    assert (patched.status_code, patched.json()["approval"]) == (200, "automatic")


async def test_a_claim_waits_holds_no_slot_and_emits_proposed(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    coordinator, volunteer = await member(client), await member(client)
    org = (await organization(client, coordinator))["id"]
    await subscribe(client, coordinator, org, "https://hooks.example.org/mutual-aid")
    need = (await _need(client, coordinator.headers, organization_id=org)).json()
    offer = await _offer(client, volunteer)
    match = await claim(client, volunteer, need["id"], offer)
    assert (match["status"], match["proposed_by"], match["accepted_at"]) == ("proposed", "volunteer", None)
    assert [e.type for e in await events(application) if e.type.startswith("match.")] == ["match.proposed"]
    owner = (await client.get(f"/v1/needs/{need['id']}", headers=coordinator.headers)).json()
    assert (owner["status"], owner["volunteers_accepted"]) == ("open", 0)
    assert (await client.get(f"/v1/offers/{offer}", headers=volunteer.headers)).json()["active_matches"] == 0
    # The claimant cannot approve their own claim; the organisation can.
    own = assert_problem(
        await client.post(f"/v1/matches/{match['id']}/accept", headers=volunteer.headers), 403
    )
    assert "proposed this match" in own["detail"]
    ok = await client.post(f"/v1/matches/{match['id']}/accept", headers=coordinator.headers)
    assert (ok.status_code, ok.json()["status"]) == (200, "accepted")
    assert [e.type for e in await events(application) if e.type.startswith("match.")] == [
        "match.proposed",
        "match.accepted",
    ]
    assert (await client.get(f"/v1/offers/{offer}", headers=volunteer.headers)).json()["active_matches"] == 1


async def test_automatic_approval_accepts_a_claim_at_once(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    coordinator, volunteer = await member(client), await member(client)
    org = (await organization(client, coordinator))["id"]
    await subscribe(client, coordinator, org, "https://hooks.example.org/mutual-aid")
    need = (await _need(client, coordinator.headers, organization_id=org, approval="automatic")).json()
    match = await claim(client, volunteer, need["id"], await _offer(client, volunteer))
    assert (match["status"], match["proposed_by"]) == ("accepted", "volunteer")
    assert match["requester"]["phone"] == NEED_PHONE
    assert [e.type for e in await events(application) if e.type.startswith("match.")] == ["match.accepted"]
    owner = (await client.get(f"/v1/needs/{need['id']}", headers=coordinator.headers)).json()
    assert (owner["status"], owner["volunteers_accepted"]) == ("matched", 1)


async def test_a_declined_claim_never_showed_anything(client: httpx.AsyncClient) -> None:
    requester, volunteer = await member(client), await member(client)
    need = (await _need(client, requester.headers)).json()
    match = await claim(client, volunteer, need["id"], await _offer(client, volunteer))
    declined = await client.post(f"/v1/matches/{match['id']}/decline", headers=requester.headers)
    assert (declined.status_code, declined.json()["status"]) == (200, "declined")
    seen = await client.get(f"/v1/matches/{match['id']}", headers=volunteer.headers)
    assert seen.json()["requester"] is None
    assert (await client.get("/v1/members/me/audit", headers=requester.headers)).json()["items"] == []


async def test_a_brand_new_account_learns_nothing_private_until_the_requester_accepts(
    client: httpx.AsyncClient,
) -> None:
    """The attack: sign up, offer everything everywhere, list opportunities, claim, read."""
    requester = await member(client)
    need = (await _need(client, requester.headers)).json()
    attacker = await member(client)
    offer = await _offer(
        client,
        attacker,
        categories=[c.value for c in Category],
        modes=[m.value for m in Mode],
        max_distance_km=200.0,
        capacity=50,
    )
    listed = await client.get(f"/v1/offers/{offer}/opportunities?limit=100", headers=attacker.headers)
    assert need["id"] in {item["id"] for item in listed.json()["items"]}
    claimed = await client.post(
        "/v1/matches", json={"need_id": need["id"], "offer_id": offer}, headers=attacker.headers
    )
    assert (claimed.status_code, claimed.json()["status"]) == (201, "proposed")
    match_url = f"/v1/matches/{claimed.json()['id']}"
    reads = [
        listed,
        claimed,
        await client.get(match_url, headers=attacker.headers),
        await client.get("/v1/matches", headers=attacker.headers),
        await client.get(f"/v1/needs/{need['id']}", headers=attacker.headers),
    ]
    for response in reads:
        assert response.status_code in (200, 201), response.text
        for secret in PRIVATE:
            assert secret not in response.text, (str(response.url), secret)
    assert reads[-1].json()["view"] == "public"
    # Accepting is the requester's call; once made, the volunteer sees where to go and whom to call.
    accepted = await client.post(f"{match_url}/accept", headers=requester.headers)
    assert accepted.status_code == 200, accepted.text
    assert (await client.get(match_url, headers=attacker.headers)).json()["requester"]["phone"] == NEED_PHONE
    shown = (await client.get(f"/v1/needs/{need['id']}", headers=attacker.headers)).json()
    assert (shown["view"], shown["address"], shown["contact"]["phone"]) == (
        "participant",
        ADDRESS,
        NEED_PHONE,
    )
