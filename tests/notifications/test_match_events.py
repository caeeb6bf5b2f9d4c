"""Match steps notify the other side (never the member who acted), with ids only."""

import httpx

from tests.factories import join, member, need_body, offer_body, organization
from tests.notifications.support import HERE, MATCH_KEYS, inbox, pair, types


async def test_each_match_step_reaches_the_other_side_only(client: httpx.AsyncClient) -> None:
    requester, volunteer = await member(client), await member(client)
    need_id, offer_id = await pair(client, requester, volunteer)
    body = {"need_id": need_id, "offer_id": offer_id}
    proposed = await client.post("/v1/matches", json=body, headers=requester.headers)
    assert proposed.status_code == 201, proposed.text
    assert proposed.json()["status"] == "proposed"
    match_id = proposed.json()["id"]

    [told] = await inbox(client, volunteer)
    assert told["type"] == "match.proposed"
    assert told["read_at"] is None
    assert told["data"] == {
        "match_id": match_id,
        "need_id": need_id,
        "offer_id": offer_id,
        "status": "proposed",
    }
    assert await types(client, requester) == []  # nobody is told of their own action

    assert (await client.post(f"/v1/matches/{match_id}/accept", headers=volunteer.headers)).status_code == 200
    assert await types(client, requester) == ["match.accepted"]
    assert (
        await client.post(f"/v1/matches/{match_id}/complete", headers=requester.headers)
    ).status_code == 200
    assert await types(client, volunteer) == ["match.completed", "match.proposed"]  # newest first
    assert await types(client, requester) == ["match.accepted"]


async def test_declines_cancels_and_claims(client: httpx.AsyncClient) -> None:
    requester, volunteer = await member(client), await member(client)
    need_id, offer_id = await pair(client, requester, volunteer)
    body = {"need_id": need_id, "offer_id": offer_id}
    first = (await client.post("/v1/matches", json=body, headers=requester.headers)).json()["id"]
    assert (await client.post(f"/v1/matches/{first}/decline", headers=volunteer.headers)).status_code == 200
    assert await types(client, requester) == ["match.declined"]

    # A claim waits for the need's owner, who is told; the volunteer claimed it, so is not.
    claim = await client.post("/v1/matches", json=body, headers=volunteer.headers)
    assert claim.status_code == 201, claim.text
    assert claim.json()["status"] == "proposed"
    assert await types(client, requester) == ["match.proposed", "match.declined"]
    accepted = await client.post(f"/v1/matches/{claim.json()['id']}/accept", headers=requester.headers)
    assert accepted.status_code == 200, accepted.text
    assert await types(client, volunteer) == ["match.accepted", "match.proposed"]
    # Cancelling the need ends the match: the volunteer is told, the owner who cancelled is not.
    assert (await client.post(f"/v1/needs/{need_id}/cancel", headers=requester.headers)).status_code == 200
    assert await types(client, volunteer) == ["match.cancelled", "match.accepted", "match.proposed"]
    assert (await inbox(client, volunteer))[0]["data"]["match_id"] == claim.json()["id"]
    assert await types(client, requester) == ["match.proposed", "match.declined"]


async def test_a_claim_on_an_organisation_s_need_reaches_its_coordinators_now(
    client: httpx.AsyncClient,
) -> None:
    coordinator, other, volunteer = await member(client), await member(client), await member(client)
    org = (await organization(client, coordinator))["id"]
    await join(client, coordinator, org, other, role="coordinator")
    need = await client.post(
        "/v1/needs", json=need_body(location=HERE, organization_id=org), headers=coordinator.headers
    )
    assert need.status_code == 201, need.text
    _, offer_id = await pair(client, await member(client), volunteer)
    # One coordinator steps down: the claim reaches only those who can answer it now.
    await join(client, other, org, coordinator, role="volunteer")
    claim = await client.post(
        "/v1/matches", json={"need_id": need.json()["id"], "offer_id": offer_id}, headers=volunteer.headers
    )
    assert claim.status_code == 201, claim.text
    assert await types(client, other) == ["match.proposed"]
    assert await types(client, coordinator) == []
    assert await types(client, volunteer) == []


async def test_data_never_carries_private_fields(client: httpx.AsyncClient) -> None:
    requester, volunteer = await member(client), await member(client)
    need_id, offer_id = await pair(client, requester, volunteer)
    match = await client.post(
        "/v1/matches", json={"need_id": need_id, "offer_id": offer_id}, headers=requester.headers
    )
    await client.post(f"/v1/matches/{match.json()['id']}/accept", headers=volunteer.headers)
    for who in (requester, volunteer):
        for item in await inbox(client, who):
            assert set(item) == {"id", "type", "created_at", "read_at", "data"}
            assert set(item["data"]) == MATCH_KEYS
            # What it says, not when: "51.5" also turns up in a timestamp (seconds 51.5...).
            text = str({key: item[key] for key in ("type", "data")})
            for private in ("Example Road", "+44", "Alex Example", "51.5", "-0.12"):
                assert private not in text


async def test_cancelling_a_need_tells_every_volunteer_it_ends(client: httpx.AsyncClient) -> None:
    requester, first, second = await member(client), await member(client), await member(client)
    need = await client.post(
        "/v1/needs", json=need_body(location=HERE, volunteers_needed=2), headers=requester.headers
    )
    need_id = need.json()["id"]
    for volunteer in (first, second):
        offer = await client.post(
            "/v1/offers", json=offer_body(location=HERE, availability=[]), headers=volunteer.headers
        )
        body = {"need_id": need_id, "offer_id": offer.json()["id"]}
        assert (await client.post("/v1/matches", json=body, headers=requester.headers)).status_code == 201
    # Two matches end in one transaction: both volunteers' counters are held first, in one order.
    assert (await client.post(f"/v1/needs/{need_id}/cancel", headers=requester.headers)).status_code == 200
    for volunteer in (first, second):
        assert await types(client, volunteer) == ["match.cancelled", "match.proposed"]
    assert await types(client, requester) == []
