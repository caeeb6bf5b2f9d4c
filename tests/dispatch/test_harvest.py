"""Harvest resistance: a stranger who posts needs learns no volunteer's name, and moving a need's
reach reads no distance finer than the 0.5 km candidates show."""

import math
from typing import Any

import httpx

from tests.factories import Member, api_key, join, member, offer_body, organization

CENTRE = (51.5003, -0.1201)


def _east(km: float) -> dict[str, float]:
    """A point `km` east of the centre."""
    return {"lat": CENTRE[0], "lon": CENTRE[1] + km / (111.2 * math.cos(math.radians(CENTRE[0])))}


async def _volunteers(client: httpx.AsyncClient, kms: list[float]) -> list[tuple[Member, str]]:
    """A volunteer with an offer at each distance east of the centre: (volunteer, offer id)."""
    found = []
    for km in kms:
        v = await member(client)
        body = offer_body(location=_east(km), max_distance_km=20, availability=[], capacity=2)
        r = await client.post("/v1/offers", json=body, headers=v.headers)
        assert r.status_code == 201, r.text
        found.append((v, r.json()["id"]))
    return found


async def _need(client: httpx.AsyncClient, who: dict[str, str], **fields: Any) -> str:
    body = {"category": "groceries", "title": "Shopping", "location": _east(0), **fields}
    r = await client.post("/v1/needs", json=body, headers=who)
    assert r.status_code == 201, r.text
    need_id: str = r.json()["id"]
    return need_id


async def _candidates(client: httpx.AsyncClient, need_id: str, who: dict[str, str]) -> list[dict[str, Any]]:
    r = await client.get(f"/v1/needs/{need_id}/candidates?limit=100", headers=who)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_a_harvesting_account_with_fresh_needs_learns_no_names(client: httpx.AsyncClient) -> None:
    volunteers = await _volunteers(client, [0.3, 1.1, 2.4, 3.8, 6.0])
    harvester = await member(client)
    seen: dict[str, Any] = {}
    for km in (0.0, 2.0, 4.0):  # needs posted at chosen points
        need_id = await _need(client, harvester.headers, location=_east(km))
        for item in await _candidates(client, need_id, harvester.headers):
            seen[item["offer_id"]] = item["volunteer"]
    assert set(seen) == {offer_id for _, offer_id in volunteers}  # every one listed...
    assert list(seen.values()) == [None] * len(volunteers)  # ...and not one named


async def test_an_organisation_sees_its_own_volunteers_names_and_no_stranger_s(
    client: httpx.AsyncClient,
) -> None:
    # Anyone may found an organisation: acting for one must not name every volunteer nearby.
    (own, _), (stranger, stranger_offer) = await _volunteers(client, [0.5, 1.5])
    coordinator = await member(client)
    org = (await organization(client, coordinator))["id"]
    await join(client, coordinator, org, own)
    key = await api_key(client, coordinator, org, ["needs:read", "needs:write", "matches:read"])
    for who in (coordinator.headers, key["headers"]):
        need_id = await _need(client, who, organization_id=org)
        shown = {i["offer_id"]: i["volunteer"] for i in await _candidates(client, need_id, who)}
        assert shown[stranger_offer] is None
        assert [v for v in shown.values() if v is not None] == [
            {"id": own.id, "display_name": own.data["display_name"]}
        ]
    # A volunteer the organisation has had accepted is no stranger any more.
    need_id = await _need(client, coordinator.headers, organization_id=org)
    proposal = await client.post(
        "/v1/matches", json={"need_id": need_id, "offer_id": stranger_offer}, headers=coordinator.headers
    )
    assert proposal.status_code == 201, proposal.text
    accepted = await client.post(f"/v1/matches/{proposal.json()['id']}/accept", headers=stranger.headers)
    assert accepted.status_code == 200, accepted.text
    later = await _need(client, coordinator.headers, organization_id=org)
    shown = {i["offer_id"]: i["volunteer"] for i in await _candidates(client, later, coordinator.headers)}
    assert shown[stranger_offer] == {"id": stranger.id, "display_name": stranger.data["display_name"]}


async def test_a_member_sees_the_name_of_a_volunteer_they_have_had_accepted(
    client: httpx.AsyncClient,
) -> None:
    (known, known_offer), (_, stranger_offer) = await _volunteers(client, [0.5, 1.5])
    requester = await member(client)
    first = await _need(client, requester.headers)
    proposal = await client.post(
        "/v1/matches", json={"need_id": first, "offer_id": known_offer}, headers=requester.headers
    )
    assert proposal.status_code == 201, proposal.text
    # Proposed is not enough: the volunteer has not said yes to this requester.
    assert {i["offer_id"]: i["volunteer"] for i in await _candidates(client, first, requester.headers)} == {
        stranger_offer: None
    }
    accepted = await client.post(f"/v1/matches/{proposal.json()['id']}/accept", headers=known.headers)
    assert accepted.status_code == 200, accepted.text
    second = await _need(client, requester.headers)
    shown = {i["offer_id"]: i["volunteer"] for i in await _candidates(client, second, requester.headers)}
    assert shown == {
        known_offer: {"id": known.id, "display_name": known.data["display_name"]},
        stranger_offer: None,
    }


async def test_moving_a_need_s_reach_reads_no_finer_than_the_shown_distance(
    client: httpx.AsyncClient,
) -> None:
    """A volunteer appears exactly when the reach covers the distance as shown: binary-searching
    `max_distance_km` (PATCH, then list) learns the 0.5 km step the list already shows, no more."""
    [(_, offer_id)] = await _volunteers(client, [2.1])
    owner = await member(client)
    need_id = await _need(client, owner.headers)
    [item] = await _candidates(client, need_id, owner.headers)
    shown = item["distance_km"]
    assert shown % 0.5 == 0
    present = {}
    for reach in [shown - 0.24, shown - 0.12, shown - 0.01, shown, shown + 0.01, shown + 0.12, shown + 0.24]:
        r = await client.patch(f"/v1/needs/{need_id}", json={"max_distance_km": reach}, headers=owner.headers)
        assert r.status_code == 200, r.text
        present[reach] = [i["offer_id"] for i in await _candidates(client, need_id, owner.headers)] == [
            offer_id
        ]
    assert present == {reach: reach >= shown for reach in present}


async def test_proposing_to_a_stranger_shows_no_name_until_they_accept(client: httpx.AsyncClient) -> None:
    # Else a harvester could propose to each candidate in turn and read the names off the matches.
    [(volunteer, offer_id)] = await _volunteers(client, [0.5])
    harvester = await member(client)
    need_id = await _need(client, harvester.headers)
    r = await client.post(
        "/v1/matches", json={"need_id": need_id, "offer_id": offer_id}, headers=harvester.headers
    )
    assert r.status_code == 201, r.text
    match_id = r.json()["id"]
    unnamed = {"id": None, "display_name": "A volunteer", "phone": None}
    assert r.json()["volunteer"] == unnamed
    assert (await client.get(f"/v1/matches/{match_id}", headers=harvester.headers)).json()[
        "volunteer"
    ] == unnamed
    listed = await client.get(f"/v1/matches?need_id={need_id}", headers=harvester.headers)
    assert [m["volunteer"] for m in listed.json()["items"]] == [unnamed]
    # The volunteer sees themselves, and once they accept the need's side sees them too.
    assert (await client.get(f"/v1/matches/{match_id}", headers=volunteer.headers)).json()["volunteer"][
        "id"
    ] == (volunteer.id)
    assert (await client.post(f"/v1/matches/{match_id}/accept", headers=volunteer.headers)).status_code == 200
    shown = (await client.get(f"/v1/matches/{match_id}", headers=harvester.headers)).json()["volunteer"]
    assert (shown["id"], shown["display_name"]) == (volunteer.id, volunteer.data["display_name"])


async def test_a_volunteer_who_claims_shows_their_name(client: httpx.AsyncClient) -> None:
    [(volunteer, offer_id)] = await _volunteers(client, [0.5])
    requester = await member(client)
    need_id = await _need(client, requester.headers)
    claim = await client.post(
        "/v1/matches", json={"need_id": need_id, "offer_id": offer_id}, headers=volunteer.headers
    )
    assert claim.status_code == 201, claim.text
    shown = (await client.get(f"/v1/matches/{claim.json()['id']}", headers=requester.headers)).json()[
        "volunteer"
    ]
    assert (shown["id"], shown["display_name"], shown["phone"]) == (
        volunteer.id,
        volunteer.data["display_name"],
        None,
    )
