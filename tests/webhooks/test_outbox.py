"""The outbox: each change writes its event, in its own transaction, for subscribed endpoints only."""

import asyncio
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from app.webhooks import service as webhooks
from app.webhooks.models import EventType
from tests.conftest import make_settings
from tests.factories import ALL_SCOPES, Member, api_key, assert_problem, join, member, need_body, offer_body
from tests.webhooks.support import deliveries, events, org_with_webhook, subscribe

URL = "https://hooks.example.org/mutual-aid"
HERE = {"lat": 51.5, "lon": -0.12}


async def _need(client: httpx.AsyncClient, who: Member, org: str | None, **overrides: Any) -> str:
    body = need_body(location=HERE, **overrides)
    if org is not None:
        body["organization_id"] = org
    r = await client.post("/v1/needs", json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _offer(client: httpx.AsyncClient, volunteer: Member, **overrides: object) -> str:
    body = offer_body(location=HERE, availability=[], **overrides)
    r = await client.post("/v1/offers", json=body, headers=volunteer.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _types(app: FastAPI) -> list[str]:
    return sorted(e.type for e in await events(app))


async def test_each_change_is_one_event_with_a_delivery_per_subscribed_endpoint(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    coordinator = await member(client)
    org, everything = await org_with_webhook(client, coordinator, URL)
    creations = await subscribe(client, coordinator, org, URL + "/new", ["need.created"])
    need = await _need(client, coordinator, org)
    r = await client.patch(f"/v1/needs/{need}", json={"title": "Changed"}, headers=coordinator.headers)
    assert r.status_code == 200

    created, updated = sorted(await events(application), key=lambda e: e.type)
    assert (created.type, updated.type) == ("need.created", "need.updated")
    assert created.organization_id == uuid.UUID(org)
    assert created.payload["type"] == "need.created"
    assert created.payload["data"] == {"organization_id": org, "need_id": need, "status": "open"}
    assert updated.payload["data"] == {"organization_id": org, "need_id": need, "status": "open"}
    stamp = created.payload["timestamp"]
    assert stamp.endswith("Z")
    assert datetime.fromisoformat(stamp) == created.created_at
    rows = await deliveries(application)
    assert sorted((str(d.endpoint_id), d.event_type) for d in rows) == sorted(
        [
            (everything["id"], "need.created"),
            (creations["id"], "need.created"),
            (everything["id"], "need.updated"),
        ]
    )
    assert [(d.status, d.attempts, d.attempt_log) for d in rows] == [("pending", 0, [])] * 3


async def test_need_updated_carries_the_status_the_update_wrote(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    coordinator, volunteer = await member(client), await member(client)
    org, _ = await org_with_webhook(client, coordinator, URL, ["need.updated"])
    # Automatic approval: the claim takes its slot at once.
    need = await _need(client, coordinator, org, volunteers_needed=2, approval="automatic")
    claim = {"need_id": need, "offer_id": await _offer(client, volunteer)}
    assert (await client.post("/v1/matches", json=claim, headers=volunteer.headers)).status_code == 201
    r = await client.patch(f"/v1/needs/{need}", json={"volunteers_needed": 1}, headers=coordinator.headers)
    assert r.json()["status"] == "matched"
    [event] = await events(application)
    assert event.payload["data"] == {"organization_id": org, "need_id": need, "status": "matched"}


async def test_a_create_that_rolls_back_emits_nothing(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    coordinator = await member(client)
    org = (
        await client.post("/v1/organizations", json={"name": "Intake"}, headers=coordinator.headers)
    ).json()["id"]
    key = await api_key(client, coordinator, org, ALL_SCOPES)
    first = await client.post("/v1/needs", json=need_body(external_id="case-1"), headers=key["headers"])
    assert first.status_code == 201
    await subscribe(client, coordinator, org, URL)
    # The event is written before the commit that finds the duplicate, and goes with its rollback.
    again = await client.post("/v1/needs", json=need_body(external_id="case-1"), headers=key["headers"])
    assert assert_problem(again, 409)["existing_id"] == first.json()["id"]
    assert await events(application) == []
    assert await deliveries(application) == []


async def test_emitted_rows_go_with_a_rollback(client: httpx.AsyncClient, application: FastAPI) -> None:
    coordinator = await member(client)
    org, _ = await org_with_webhook(client, coordinator, URL)
    async with application.state.sessionmaker() as session:
        event = webhooks.need_event(
            EventType.need_created, organization_id=uuid.UUID(org), need_id=uuid.uuid4(), status="open"
        )
        await webhooks.emit(session, [event])
        await session.rollback()
    assert await events(application) == []
    assert await deliveries(application) == []


async def test_refused_steps_emit_nothing(client: httpx.AsyncClient, application: FastAPI) -> None:
    coordinator, first, second = await member(client), await member(client), await member(client)
    org, _ = await org_with_webhook(client, coordinator, URL)
    need = await _need(client, coordinator, org)
    proposals = []
    for volunteer in (first, second):
        body = {"need_id": need, "offer_id": await _offer(client, volunteer)}
        proposals.append(
            (await client.post("/v1/matches", json=body, headers=coordinator.headers)).json()["id"]
        )
    assert (await client.post(f"/v1/matches/{proposals[0]}/accept", headers=first.headers)).status_code == 200
    before = await _types(application)
    assert_problem(await client.post(f"/v1/matches/{proposals[1]}/accept", headers=second.headers), 409)
    assert_problem(await client.post(f"/v1/matches/{proposals[0]}/decline", headers=first.headers), 409)
    stale = await client.patch(
        f"/v1/needs/{need}", json={"title": "x"}, headers={**coordinator.headers, "If-Match": '"1"'}
    )
    assert_problem(stale, 412)
    assert (
        await _types(application)
        == before
        == sorted(["need.created", "match.proposed", "match.proposed", "match.accepted", "need.updated"])
    )


async def test_a_need_moved_by_its_matches_emits_need_updated_with_its_new_status(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    """Accepted claims, completions and cancellations move a need open -> matched -> fulfilled,
    or back to open: a subscriber to need.* hears each move, with the status it moved to."""
    coordinator, first, second = await member(client), await member(client), await member(client)
    org, _ = await org_with_webhook(client, coordinator, URL)
    need = await _need(client, coordinator, org, volunteers_needed=1)

    async def claim(volunteer: Member, moves: list[str]) -> str:
        body = {"need_id": need, "offer_id": await _offer(client, volunteer)}
        r = await client.post("/v1/matches", json=body, headers=volunteer.headers)
        assert r.status_code == 201, r.text
        assert await need_moves() == moves  # a proposed claim holds no slot: the need has not moved
        accepted = await client.post(f"/v1/matches/{r.json()['id']}/accept", headers=coordinator.headers)
        assert accepted.status_code == 200, accepted.text
        return str(r.json()["id"])

    async def need_moves() -> list[str]:
        return [e.payload["data"]["status"] for e in await events(application) if e.type == "need.updated"]

    taken = await claim(first, [])
    assert await need_moves() == ["matched"]
    assert (await client.post(f"/v1/matches/{taken}/cancel", headers=first.headers)).status_code == 200
    assert await need_moves() == ["matched", "open"]
    again = await claim(second, ["matched", "open"])
    assert (await client.post(f"/v1/matches/{again}/complete", headers=second.headers)).status_code == 200
    assert await need_moves() == ["matched", "open", "matched", "fulfilled"]
    final = await client.get(f"/v1/needs/{need}", headers=coordinator.headers)
    assert final.json()["status"] == "fulfilled"
    for e in await events(application):
        assert set(e.payload["data"]) <= {"organization_id", "need_id", "match_id", "offer_id", "status"}


async def test_needs_without_an_organisation_and_other_organisations_emit_nothing(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    coordinator, neighbour, other_coordinator = (
        await member(client),
        await member(client),
        await member(client),
    )
    await org_with_webhook(client, coordinator, URL)
    other_org = (
        await client.post("/v1/organizations", json={"name": "Other"}, headers=other_coordinator.headers)
    ).json()["id"]
    mine = await _need(client, neighbour, None)
    await client.patch(f"/v1/needs/{mine}", json={"title": "Changed"}, headers=neighbour.headers)
    await client.post(f"/v1/needs/{mine}/cancel", headers=neighbour.headers)
    await _need(client, other_coordinator, other_org)
    assert await events(application) == []


async def test_batch_intake_emits_one_event_per_need_it_creates(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    coordinator = await member(client)
    org, _ = await org_with_webhook(client, coordinator, URL, ["need.created"])
    key = await api_key(client, coordinator, org, ALL_SCOPES)
    items = [need_body(external_id="a"), need_body(external_id="b"), {"title": "no category"}, need_body()]
    items.append(need_body(external_id="a"))
    r = await client.post("/v1/needs/batch", json={"items": items}, headers=key["headers"])
    results = r.json()["results"]
    assert [x["status"] for x in results] == [201, 201, 422, 201, 409]
    created = {x["id"] for x in results if x["status"] == 201}
    assert sorted(e.payload["data"]["need_id"] for e in await events(application)) == sorted(created)


async def test_a_matching_run_emits_a_proposal_per_assignment(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    coordinator, requester = await member(client), await member(client)
    org, _ = await org_with_webhook(client, coordinator, URL, ["match.proposed"])
    await join(client, coordinator, org, requester)
    for _ in range(2):
        volunteer = await member(client)
        await join(client, coordinator, org, volunteer)
        await _offer(client, volunteer, organization_id=org)
    for _ in range(2):
        await _need(client, requester, org)
    run = {"organization_id": org}
    assert (await client.post("/v1/matching/runs", json=run, headers=coordinator.headers)).status_code == 200
    assert await events(application) == []  # a dry run changes nothing, so says nothing
    real = await client.post("/v1/matching/runs", json={**run, "dry_run": False}, headers=coordinator.headers)
    made = (await client.get("/v1/matches?status=proposed", headers=coordinator.headers)).json()["items"]
    assert len(real.json()["assignments"]) == len(made) == 2
    got = sorted(
        (e.payload["data"]["match_id"], e.payload["data"]["status"]) for e in await events(application)
    )
    assert got == sorted((m["id"], "proposed") for m in made)


async def test_cancelling_a_need_tells_of_each_match_it_ends(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    coordinator, first, second = await member(client), await member(client), await member(client)
    org, _ = await org_with_webhook(client, coordinator, URL, ["need.cancelled", "match.cancelled"])
    need = await _need(client, coordinator, org, volunteers_needed=2)
    matches = []
    for volunteer in (first, second):
        offer = await _offer(client, volunteer)
        body = {"need_id": need, "offer_id": offer}
        matches.append(
            ((await client.post("/v1/matches", json=body, headers=coordinator.headers)).json(), offer)
        )
    assert (
        await client.post(f"/v1/matches/{matches[0][0]['id']}/accept", headers=first.headers)
    ).status_code == 200
    assert (await client.post(f"/v1/needs/{need}/cancel", headers=coordinator.headers)).status_code == 200
    got = sorted((e.type, sorted(e.payload["data"].items())) for e in await events(application))
    base = {"organization_id": org, "need_id": need}
    expected = [("need.cancelled", {**base, "status": "cancelled"})] + [
        ("match.cancelled", {**base, "match_id": m["id"], "offer_id": offer, "status": "cancelled"})
        for m, offer in matches
    ]
    assert got == sorted((t, sorted(d.items())) for t, d in expected)


@pytest.mark.postgres
async def test_racing_batches_emit_once_per_created_need(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """Two identical batches at once: the loser's rolled-back events vanish with its needs."""
    coordinator = await member(client)
    org, _ = await org_with_webhook(client, coordinator, URL, ["need.created"])
    key = await api_key(client, coordinator, org, ALL_SCOPES)
    app: FastAPI = create_app(make_settings(database_url))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        created: list[str] = []
        for round_ in range(3):
            items = [need_body(external_id=f"r{round_}-{i}") for i in range(20)]
            answers = await asyncio.gather(
                *[c.post("/v1/needs/batch", json={"items": items}, headers=key["headers"]) for _ in range(2)]
            )
            created += [x["id"] for a in answers for x in a.json()["results"] if x["status"] == 201]
        assert len(created) == 60
        emitted = [e.payload["data"]["need_id"] for e in await events(app)]
    await app.state.engine.dispose()
    assert sorted(emitted) == sorted(created)
