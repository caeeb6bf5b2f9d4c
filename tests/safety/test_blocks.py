"""Blocks: the endpoints, and two members who never meet again in any read or match."""

import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from tests.factories import (
    Member,
    activity_body,
    api_key,
    assert_problem,
    join,
    member,
    need_body,
    offer_body,
    organization,
)
from tests.webhooks.support import events, org_with_webhook

HERE = {"lat": 51.5, "lon": -0.12}
URL = "https://hooks.example.org/mutual-aid"


async def block(client: httpx.AsyncClient, who: Member, whom: Member | str) -> httpx.Response:
    target = whom if isinstance(whom, str) else whom.id
    return await client.put(f"/v1/members/me/blocks/{target}", headers=who.headers)


async def need(client: httpx.AsyncClient, who: Member, **overrides: Any) -> str:
    r = await client.post("/v1/needs", json=need_body(location=HERE, **overrides), headers=who.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def offer(client: httpx.AsyncClient, who: Member, **overrides: Any) -> str:
    body = offer_body(location=HERE, availability=[], **overrides)
    r = await client.post("/v1/offers", json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_block_is_idempotent_listed_newest_first_and_lifted(client: httpx.AsyncClient) -> None:
    me, first, second = await member(client), await member(client), await member(client)
    for whom in (first, second, second):
        r = await block(client, me, whom)
        assert r.status_code == 204, r.text
        assert r.content == b""
    page = await client.get("/v1/members/me/blocks", params={"limit": 1}, headers=me.headers)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    body = page.json()
    assert [(i["member_id"], i["display_name"]) for i in body["items"]] == [
        (second.id, second.data["display_name"])
    ]
    rest = await client.get(
        "/v1/members/me/blocks", params={"cursor": body["next_cursor"]}, headers=me.headers
    )
    assert [i["member_id"] for i in rest.json()["items"]] == [first.id]
    assert rest.json()["next_cursor"] is None
    # The blocked member's own list is empty: nobody learns who blocked them.
    assert (await client.get("/v1/members/me/blocks", headers=first.headers)).json()["items"] == []
    for _ in range(2):  # lifting is idempotent too, and a block never made is 204 as well
        r = await client.delete(f"/v1/members/me/blocks/{first.id}", headers=me.headers)
        assert r.status_code == 204
    r = await client.delete(f"/v1/members/me/blocks/{uuid.uuid4()}", headers=me.headers)
    assert r.status_code == 204
    left = (await client.get("/v1/members/me/blocks", headers=me.headers)).json()["items"]
    assert [i["member_id"] for i in left] == [second.id]


async def test_blocking_oneself_is_422_and_an_unknown_member_404(client: httpx.AsyncClient) -> None:
    me = await member(client)
    assert_problem(await block(client, me, me), 422)
    assert_problem(await block(client, me, str(uuid.uuid4())), 404)
    bad = await client.get("/v1/members/me/blocks", params={"cursor": "nonsense"}, headers=me.headers)
    assert_problem(bad, 422)
    assert (await client.get("/v1/members/me/blocks", headers=me.headers)).json()["items"] == []


async def test_each_ones_needs_and_offers_are_404_to_the_other_both_ways(client: httpx.AsyncClient) -> None:
    blocker, blocked, bystander = await member(client), await member(client), await member(client)
    theirs = {who.id: (await need(client, who), await offer(client, who)) for who in (blocker, blocked)}
    assert (await block(client, blocker, blocked)).status_code == 204
    for viewer, owner in ((blocker, blocked), (blocked, blocker)):
        need_id, offer_id = theirs[owner.id]
        for path in (f"/v1/needs/{need_id}", f"/v1/offers/{offer_id}"):
            assert_problem(await client.get(path, headers=viewer.headers), 404)
        assert_problem(
            await client.patch(f"/v1/needs/{need_id}", json={"title": "x"}, headers=viewer.headers), 404
        )
        listed = (await client.get("/v1/needs", headers=viewer.headers)).json()["items"]
        assert need_id not in {n["id"] for n in listed}
        near: dict[str, str | float] = {"near": "51.5,-0.12", "radius_km": 5}
        listed = (await client.get("/v1/needs", params=near, headers=viewer.headers)).json()["items"]
        assert need_id not in {n["id"] for n in listed}
        # Everyone else, and each one for their own, reads as before.
        assert (await client.get(f"/v1/needs/{need_id}", headers=bystander.headers)).status_code == 200
        assert (await client.get(f"/v1/needs/{need_id}", headers=owner.headers)).status_code == 200
        assert (await client.get(f"/v1/offers/{offer_id}", headers=owner.headers)).status_code == 200
    # Lifted: they see each other's public needs again.
    assert (
        await client.delete(f"/v1/members/me/blocks/{blocked.id}", headers=blocker.headers)
    ).status_code == 204
    assert (
        await client.get(f"/v1/needs/{theirs[blocker.id][0]}", headers=blocked.headers)
    ).status_code == 200


async def test_neither_can_claim_or_propose_the_others_and_neither_is_a_candidate(
    client: httpx.AsyncClient,
) -> None:
    requester, volunteer = await member(client), await member(client)
    need_id, offer_id = await need(client, requester), await offer(client, volunteer)
    candidates = f"/v1/needs/{need_id}/candidates"
    opportunities = f"/v1/offers/{offer_id}/opportunities"
    assert [
        c["offer_id"] for c in (await client.get(candidates, headers=requester.headers)).json()["items"]
    ] == [offer_id]
    assert (await block(client, volunteer, requester)).status_code == 204
    assert (await client.get(candidates, headers=requester.headers)).json()["items"] == []
    assert (await client.get(opportunities, headers=volunteer.headers)).json()["items"] == []
    pair = {"need_id": need_id, "offer_id": offer_id}
    for who in (requester, volunteer):
        assert_problem(await client.post("/v1/matches", json=pair, headers=who.headers), 404)


async def test_a_coordinator_cannot_propose_a_blocked_pair(client: httpx.AsyncClient) -> None:
    coordinator, requester, volunteer = await member(client), await member(client), await member(client)
    org = (await organization(client, coordinator))["id"]
    await join(client, coordinator, org, requester)
    need_id = await need(client, requester, organization_id=org)
    offer_id = await offer(client, volunteer)
    assert (await block(client, requester, volunteer)).status_code == 204
    body = {"need_id": need_id, "offer_id": offer_id}
    problem = assert_problem(await client.post("/v1/matches", json=body, headers=coordinator.headers), 404)
    assert "reason" not in problem
    key = await api_key(client, coordinator, org, ["matches:write", "needs:read", "matches:read"])
    assert_problem(await client.post("/v1/matches", json=body, headers=key["headers"]), 404)


async def test_blocking_cancels_open_matches_and_gives_back_slots_and_capacity(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    coordinator, requester, volunteer = await member(client), await member(client), await member(client)
    org, _ = await org_with_webhook(client, coordinator, URL, ["match.cancelled", "need.updated"])
    await join(client, coordinator, org, requester)
    accepted_need = await need(client, requester, organization_id=org)
    proposed_need = await need(client, requester, organization_id=org, category="errands")
    offer_id = await offer(client, volunteer, categories=["groceries", "errands"], capacity=2)
    made = []
    for need_id in (accepted_need, proposed_need):
        r = await client.post(
            "/v1/matches", json={"need_id": need_id, "offer_id": offer_id}, headers=requester.headers
        )
        assert r.status_code == 201, r.text
        made.append(r.json()["id"])
    accept = await client.post(f"/v1/matches/{made[0]}/accept", headers=volunteer.headers)
    assert accept.status_code == 200
    assert (await client.get(f"/v1/needs/{accepted_need}", headers=requester.headers)).json()[
        "status"
    ] == "matched"
    before = len(await events(application))

    assert (await block(client, volunteer, requester)).status_code == 204

    for who in (requester, volunteer):
        for match_id in made:
            assert_problem(await client.get(f"/v1/matches/{match_id}", headers=who.headers), 404)
        assert (await client.get("/v1/matches", headers=who.headers)).json()["items"] == []
    # The organisation still sees its matches, ended; the need is open again, the offer free.
    seen = await client.get(f"/v1/matches/{made[0]}", headers=coordinator.headers)
    assert seen.json()["status"] == "cancelled"
    assert (await client.get(f"/v1/matches/{made[1]}", headers=coordinator.headers)).json()[
        "status"
    ] == "cancelled"
    reread = (await client.get(f"/v1/needs/{accepted_need}", headers=requester.headers)).json()
    assert (reread["status"], reread["volunteers_accepted"]) == ("open", 0)
    assert (await client.get(f"/v1/offers/{offer_id}", headers=volunteer.headers)).json()[
        "active_matches"
    ] == 0
    new = [e.payload for e in (await events(application))[before:]]
    cancelled = sorted(
        (p["data"]["match_id"], p["data"]["reason"]) for p in new if p["type"] == "match.cancelled"
    )
    assert cancelled == sorted((m, "unavailable") for m in made)
    reopened = [p["data"] for p in new if p["type"] == "need.updated"]
    assert reopened == [{"organization_id": org, "need_id": accepted_need, "status": "open"}]
    # Blocking again changes nothing more.
    assert (await block(client, volunteer, requester)).status_code == 204
    assert len(await events(application)) == before + len(new)


async def test_an_organisations_other_coordinators_never_meet_whom_they_blocked_either(
    client: httpx.AsyncClient,
) -> None:
    """A block between a volunteer and one of an organisation's coordinators: that coordinator's
    list of candidates for the organisation's need, roster of its activity and matching runs
    (which propose in their name) leave the volunteer out, both ways; the coordinators not
    blocked still see them."""
    lead, second, third, volunteer, other = [await member(client) for _ in range(5)]
    org = (await organization(client, lead))["id"]
    for coordinator in (second, third):
        await join(client, lead, org, coordinator, role="coordinator")
    await join(client, lead, org, volunteer)
    await join(client, lead, org, other)
    # Offered through the organisation: its runs pair its own needs and offers.
    theirs = await offer(client, volunteer, organization_id=org)
    others = await offer(client, other, organization_id=org)
    need_id = await need(client, lead, organization_id=org, volunteers_needed=2)
    made = await client.post("/v1/activities", json=activity_body(organization_id=org), headers=lead.headers)
    assert made.status_code == 201, made.text
    activity_id = made.json()["id"]
    for who in (volunteer, other):
        joined = await client.post(f"/v1/activities/{activity_id}/join", headers=who.headers)
        assert joined.status_code == 201, joined.text
    assert (await block(client, volunteer, second)).status_code == 204
    assert (await block(client, third, volunteer)).status_code == 204

    async def seen(who: Member) -> tuple[set[str], set[str], set[str]]:
        found = await client.get(f"/v1/needs/{need_id}/candidates", headers=who.headers)
        assert found.status_code == 200, found.text
        roster = await client.get(f"/v1/activities/{activity_id}/participants", headers=who.headers)
        assert roster.status_code == 200, roster.text
        run = {"organization_id": org, "dry_run": True}
        ran = await client.post("/v1/matching/runs", json=run, headers=who.headers)
        assert ran.status_code == 200, ran.text
        return (
            {c["offer_id"] for c in found.json()["items"]},
            {p["member_id"] for p in roster.json()["items"]},
            {a["offer_id"] for a in ran.json()["assignments"]},
        )

    assert await seen(lead) == ({theirs, others}, {volunteer.id, other.id}, {theirs, others})
    for blocked_with in (second, third):
        assert await seen(blocked_with) == ({others}, {other.id}, {others})


async def test_a_coordinator_cannot_add_a_member_either_of_them_blocked(client: httpx.AsyncClient) -> None:
    """Adding someone to an organisation is meeting them (their name in its candidates, its report
    queue, its decisions): refused either way round, as for a member that does not exist; another
    coordinator may add them, and an existing membership may still change."""
    coordinator, other_coordinator, blocker, blocked, member_already = [
        await member(client) for _ in range(5)
    ]
    org = (await organization(client, coordinator))["id"]
    await join(client, coordinator, org, other_coordinator, role="coordinator")
    await join(client, coordinator, org, member_already)
    assert (
        await client.put(f"/v1/members/me/blocks/{coordinator.id}", headers=blocker.headers)
    ).status_code == 204
    assert (
        await client.put(f"/v1/members/me/blocks/{blocked.id}", headers=coordinator.headers)
    ).status_code == 204
    assert (
        await client.put(f"/v1/members/me/blocks/{coordinator.id}", headers=member_already.headers)
    ).status_code == 204
    for who in (blocker, blocked):
        refused = await client.put(
            f"/v1/organizations/{org}/members/{who.id}",
            json={"role": "volunteer"},
            headers=coordinator.headers,
        )
        assert assert_problem(refused, 404)["detail"] == "No such member."
    missing = await client.put(
        f"/v1/organizations/{org}/members/{uuid.uuid4()}",
        json={"role": "volunteer"},
        headers=coordinator.headers,
    )
    assert assert_problem(missing, 404)["detail"] == "No such member."
    changed = await client.put(
        f"/v1/organizations/{org}/members/{member_already.id}",
        json={"role": "volunteer", "vetted": True},
        headers=coordinator.headers,
    )
    assert changed.status_code == 200, changed.text
    added = await client.put(
        f"/v1/organizations/{org}/members/{blocker.id}",
        json={"role": "volunteer"},
        headers=other_coordinator.headers,
    )
    assert added.status_code == 201, added.text
