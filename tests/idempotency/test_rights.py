"""Replays re-check rights: a replay answers what the caller may see now, audited like a read,
or 409 when the first outcome no longer holds; never private data the caller has since lost."""

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from app.idempotency.openapi import stored_for
from app.idempotency.replays import rerenderer_of
from tests.factories import (
    Member,
    activity_body,
    assert_problem,
    claim,
    join,
    member,
    need_body,
    offer_body,
    organization,
)
from tests.idempotency.helpers import encoded, keyed

REPLAYED = "idempotent-replayed"
NEED_PHONE, ADDRESS = "+44 20 7946 0123", "Example Road"
GONE = "https://mutual-aid.example/problems/idempotent-outcome-gone"


async def _pair(
    client: httpx.AsyncClient, requester_headers: dict[str, str], volunteer: Member
) -> tuple[str, str]:
    need = await client.post(
        "/v1/needs", json=need_body(location={"lat": 51.5, "lon": -0.12}), headers=requester_headers
    )
    offer = await client.post("/v1/offers", json=offer_body(availability=[]), headers=volunteer.headers)
    assert (need.status_code, offer.status_code) == (201, 201), (need.text, offer.text)
    return need.json()["id"], offer.json()["id"]


async def test_a_replayed_claim_shows_no_contact_once_the_match_is_cancelled(
    client: httpx.AsyncClient,
) -> None:
    requester, volunteer = await member(client), await member(client)
    need_id, offer_id = await _pair(client, requester.headers, volunteer)
    body = encoded({"need_id": need_id, "offer_id": offer_id})
    first = await client.post("/v1/matches", content=body, headers=keyed(volunteer, "claim-1"))
    assert (first.status_code, first.json()["status"]) == (201, "proposed")
    match_url = first.headers["location"]
    accepted = await client.post(f"{match_url}/accept", headers=requester.headers)
    assert accepted.status_code == 200
    # While the match stands, a replay shows the current view: now accepted, with whom to call.
    held = await client.post("/v1/matches", content=body, headers=keyed(volunteer, "claim-1"))
    assert (held.status_code, held.headers[REPLAYED], held.headers["location"]) == (201, "true", match_url)
    assert (held.json()["status"], held.json()["requester"]["phone"]) == ("accepted", NEED_PHONE)
    assert held.headers["etag"] == accepted.headers["etag"]
    audit = (await client.get("/v1/members/me/audit", headers=requester.headers)).json()["items"]
    assert [(e["actor"]["id"], e["fields"]) for e in audit] == [(volunteer.id, ["contact"])]
    assert (await client.post(f"{match_url}/cancel", headers=volunteer.headers)).status_code == 200
    later = await client.post("/v1/matches", content=body, headers=keyed(volunteer, "claim-1"))
    assert (later.status_code, later.headers[REPLAYED], later.headers["location"]) == (201, "true", match_url)
    assert (later.json()["status"], later.json()["requester"]) == ("cancelled", None)
    for secret in (NEED_PHONE, ADDRESS, "Alex Example"):
        assert secret not in later.text
    # Nothing was shown, so nothing more was audited.
    assert len((await client.get("/v1/members/me/audit", headers=requester.headers)).json()["items"]) == 1


async def test_a_replayed_step_is_409_once_the_match_moved_on(client: httpx.AsyncClient) -> None:
    requester, volunteer = await member(client), await member(client)
    need_id, offer_id = await _pair(client, requester.headers, volunteer)
    match = await claim(client, volunteer, need_id, offer_id)
    url = f"/v1/matches/{match['id']}/accept"
    first = await client.post(url, headers=keyed(requester, "accept-1"))
    again = await client.post(url, headers=keyed(requester, "accept-1"))
    assert (first.status_code, again.status_code, again.headers[REPLAYED]) == (200, 200, "true")
    assert again.content == first.content  # nothing changed: the same view, byte for byte
    assert len((await client.get("/v1/members/me/audit", headers=volunteer.headers)).json()["items"]) == 2
    assert (
        await client.post(f"/v1/matches/{match['id']}/cancel", headers=volunteer.headers)
    ).status_code == 200
    gone = await client.post(url, headers=keyed(requester, "accept-1"))
    problem = assert_problem(gone, 409)
    assert (problem["type"], gone.headers[REPLAYED]) == (GONE, "true")
    assert "cancelled" in problem["detail"]
    assert match["volunteer"]["display_name"] not in gone.text


async def test_a_coordinator_who_lost_the_role_gets_409_not_the_need(client: httpx.AsyncClient) -> None:
    founder, coordinator, requester = await member(client), await member(client), await member(client)
    org = (await organization(client, founder))["id"]
    await join(client, founder, org, requester)
    await join(client, founder, org, coordinator, role="coordinator")
    body = need_body(organization_id=org, visibility="organization")
    need = (await client.post("/v1/needs", json=body, headers=requester.headers)).json()
    url = f"/v1/needs/{need['id']}/cancel"
    # Roles are read on every request: the same token acts for the organisation, then does not.
    first = await client.post(url, headers=keyed(coordinator, "cancel-1"))
    again = await client.post(url, headers=keyed(coordinator, "cancel-1"))
    assert (first.status_code, first.json()["address"]) == (200, need["address"])
    assert again.content == first.content
    await join(client, founder, org, coordinator, role="volunteer")
    gone = await client.post(url, headers=keyed(coordinator, "cancel-1"))
    assert assert_problem(gone, 409)["type"] == GONE
    for secret in (NEED_PHONE, need["address"]):
        assert secret not in gone.text
    # Same with an API key's secret, shown once: replayed while they coordinate, then not.
    await join(client, founder, org, coordinator, role="coordinator")
    keys_url = f"/v1/organizations/{org}/api-keys"
    key_body = encoded({"name": "Partner", "scopes": ["needs:read"]})
    made = await client.post(keys_url, content=key_body, headers=keyed(coordinator, "key-1"))
    replayed = await client.post(keys_url, content=key_body, headers=keyed(coordinator, "key-1"))
    assert replayed.json()["key"] == made.json()["key"]
    await join(client, founder, org, coordinator, role="volunteer")
    refused = await client.post(keys_url, content=key_body, headers=keyed(coordinator, "key-1"))
    assert assert_problem(refused, 409)["type"] == GONE
    assert made.json()["key"] not in refused.text


async def test_every_kept_post_says_how_it_is_replayed(application: FastAPI) -> None:
    # Included routers are nested (FastAPI keeps them apart): walk every route context, and make
    # sure the walk found the POSTs at all, or this test would pass on nothing.
    posts = [
        context
        for context in iter_route_contexts(application.routes)
        if isinstance(context.original_route, APIRoute)
        and "POST" in (context.methods or set())
        and (context.path or "").startswith("/v1/")
        and stored_for(context.original_route.openapi_extra)
    ]
    assert {"create_need", "create_match", "create_report", "join_activity"} <= {c.name for c in posts}
    unclassified = {c.name for c in posts if rerenderer_of(c.endpoint) is None}
    assert unclassified == set(), "say how these routes' replays are answered (app/idempotency/replays.py)"


async def test_a_replayed_join_answers_the_place_held_now_or_409_once_it_is_gone(
    client: httpx.AsyncClient,
) -> None:
    host, first, second, third = [await member(client) for _ in range(4)]
    made = await client.post("/v1/activities", json=activity_body(capacity=1), headers=host.headers)
    assert made.status_code == 201, made.text
    path = f"/v1/activities/{made.json()['id']}"
    assert (await client.post(f"{path}/join", headers=first.headers)).json()["status"] == "confirmed"
    waiting = await client.post(f"{path}/join", headers=keyed(second, "join-1"))
    assert (waiting.status_code, waiting.json()["status"]) == (201, "waitlisted")
    assert (await client.post(f"{path}/leave", headers=first.headers)).status_code == 204
    # The place as it stands now: promoted, so confirmed, with the same status code and Location.
    again = await client.post(f"{path}/join", headers=keyed(second, "join-1"))
    assert (again.status_code, again.headers[REPLAYED], again.headers["location"]) == (201, "true", path)
    assert (again.json()["status"], again.json()["joined_at"]) == ("confirmed", waiting.json()["joined_at"])
    # Removed by the host: the place the first answer told of no longer holds.
    assert (await client.delete(f"{path}/participants/{second.id}", headers=host.headers)).status_code == 204
    removed = await client.post(f"{path}/join", headers=keyed(second, "join-1"))
    assert assert_problem(removed, 409)["type"] == GONE
    assert removed.headers[REPLAYED] == "true"
    # Blocked by the host: the activity is 404 to them, and the replay tells them no more.
    joined = await client.post(f"{path}/join", headers=keyed(third, "join-2"))
    assert joined.json()["status"] == "confirmed"
    assert (await client.put(f"/v1/members/me/blocks/{third.id}", headers=host.headers)).status_code == 204
    assert (await client.get(path, headers=third.headers)).status_code == 404
    blocked = await client.post(f"{path}/join", headers=keyed(third, "join-2"))
    assert assert_problem(blocked, 409)["type"] == GONE
    assert made.json()["address"] not in blocked.text
    # Cancelled: the place it told of is no place any more.
    fourth = await member(client)
    assert (await client.post(f"{path}/join", headers=keyed(fourth, "join-3"))).status_code == 201
    assert (await client.post(f"{path}/cancel", headers=host.headers)).status_code == 200
    cancelled = await client.post(f"{path}/join", headers=keyed(fourth, "join-3"))
    assert assert_problem(cancelled, 409)["type"] == GONE
