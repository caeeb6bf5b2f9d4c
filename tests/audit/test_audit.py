"""The audit trail: exposures of a need's private fields to anyone but the requester leave a row."""

import httpx

from tests.factories import ALL_SCOPES, api_key, assert_problem, claim, join, member, need_body, organization


async def test_coordinator_and_key_reads_are_audited_owner_and_public_reads_are_not(
    client: httpx.AsyncClient,
) -> None:
    requester, coordinator, stranger = await member(client), await member(client), await member(client)
    org = (await organization(client, coordinator))["id"]
    await join(client, coordinator, org, requester)
    key = await api_key(client, coordinator, org, ALL_SCOPES)
    need = (
        await client.post("/v1/needs", json=need_body(organization_id=org), headers=requester.headers)
    ).json()

    await client.get(f"/v1/needs/{need['id']}", headers=requester.headers)  # the owner: not logged
    await client.get(f"/v1/needs/{need['id']}", headers=stranger.headers)  # public view: nothing shown
    await client.get(f"/v1/needs/{need['id']}")
    assert (await client.get("/v1/members/me/audit", headers=requester.headers)).json()["items"] == []

    await client.get(f"/v1/needs/{need['id']}", headers=coordinator.headers)
    await client.get(f"/v1/needs?organization_id={org}", headers=key["headers"])
    mine = (await client.get("/v1/members/me/audit", headers=requester.headers)).json()["items"]
    theirs = (await client.get(f"/v1/organizations/{org}/audit", headers=coordinator.headers)).json()["items"]
    assert mine == theirs
    assert [(e["reason"], e["actor"]["kind"], e["actor"]["id"], e["actor"]["name"]) for e in mine] == [
        ("api_key", "api_key", key["id"], "Partner system"),
        ("coordinator", "member", coordinator.id, coordinator.data["display_name"]),
    ]
    assert all(e["need_id"] == need["id"] and e["fields"] == ["location", "address", "contact"] for e in mine)


async def test_a_need_without_private_fields_leaves_no_row(client: httpx.AsyncClient) -> None:
    requester, coordinator = await member(client), await member(client)
    org = (await organization(client, coordinator))["id"]
    await join(client, coordinator, org, requester)
    body = {"category": "companionship", "title": "A weekly call", "mode": "remote", "organization_id": org}
    need = (await client.post("/v1/needs", json=body, headers=requester.headers)).json()
    await client.get(f"/v1/needs/{need['id']}", headers=coordinator.headers)
    assert (await client.get(f"/v1/organizations/{org}/audit", headers=coordinator.headers)).json()[
        "items"
    ] == []


async def test_audit_pages_with_a_cursor(client: httpx.AsyncClient) -> None:
    requester, coordinator = await member(client), await member(client)
    org = (await organization(client, coordinator))["id"]
    await join(client, coordinator, org, requester)
    need = (
        await client.post("/v1/needs", json=need_body(organization_id=org), headers=requester.headers)
    ).json()
    for _ in range(5):
        await client.get(f"/v1/needs/{need['id']}", headers=coordinator.headers)
    seen, cursor = [], None
    while True:
        url = f"/v1/organizations/{org}/audit?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(url, headers=coordinator.headers)).json()
        seen += [e["id"] for e in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert len(seen) == len(set(seen)) == 5
    assert_problem(
        await client.get(f"/v1/organizations/{org}/audit?limit=0", headers=coordinator.headers), 422
    )


async def test_participant_reads_are_audited_on_both_sides(client: httpx.AsyncClient) -> None:
    requester, volunteer = await member(client), await member(client, phone="+44 7700 900777")
    here = {"lat": 51.5, "lon": -0.12}
    need = (await client.post("/v1/needs", json=need_body(location=here), headers=requester.headers)).json()
    offer = (
        await client.post(
            "/v1/offers",
            json={"categories": ["groceries"], "modes": ["in_person"], "location": here},
            headers=volunteer.headers,
        )
    ).json()
    match = await claim(client, volunteer, need["id"], offer["id"])
    # Before acceptance the claim shows nobody anything, so nothing is audited.
    assert (await client.get("/v1/members/me/audit", headers=requester.headers)).json()["items"] == []
    accepted = await client.post(f"/v1/matches/{match['id']}/accept", headers=requester.headers)
    assert accepted.json()["volunteer"]["phone"] == "+44 7700 900777"
    # The volunteer reads whom to call, then where to go; the requester reads the volunteer's phone.
    assert (await client.get(f"/v1/matches/{match['id']}", headers=volunteer.headers)).json()["requester"][
        "phone"
    ] == "+44 20 7946 0123"
    assert (await client.get(f"/v1/needs/{need['id']}", headers=volunteer.headers)).json()[
        "view"
    ] == "participant"
    assert (await client.get(f"/v1/matches/{match['id']}", headers=requester.headers)).json()["volunteer"][
        "phone"
    ] == "+44 7700 900777"
    mine = (await client.get("/v1/members/me/audit", headers=requester.headers)).json()["items"]
    # Newest first: the volunteer's read of the need, then their read of the match naming whom to call.
    assert [(e["reason"], e["actor"]["id"], e["fields"]) for e in mine] == [
        ("participant", volunteer.id, ["location", "address", "contact"]),
        ("participant", volunteer.id, ["contact"]),
    ]
    theirs = (await client.get("/v1/members/me/audit", headers=volunteer.headers)).json()["items"]
    # The accept's answer and the later read each showed the volunteer's phone.
    owner = {"kind": "need_owner", "id": None, "name": "the person you are helping"}
    assert [(e["reason"], e["actor"], e["fields"]) for e in theirs] == [("participant", owner, ["phone"])] * 2
    # Each reading by the owner of the data itself leaves nothing.
    await client.get(f"/v1/needs/{need['id']}", headers=requester.headers)
    assert len((await client.get("/v1/members/me/audit", headers=requester.headers)).json()["items"]) == 2
