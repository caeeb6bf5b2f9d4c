"""Activities over HTTP: create, validate, edit, cancel, join and leave, with the hooks' calls."""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.activities.conftest import FakeHooks
from tests.factories import NEXT_MONDAY, activity, activity_body, assert_problem, member, organization
from tests.webhooks.support import events, subscribe


async def test_create_answers_the_host_view_with_location_and_etag(client: httpx.AsyncClient) -> None:
    host = await member(client)
    r = await client.post("/v1/activities", json=activity_body(), headers=host.headers)
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["location"] == f"/v1/activities/{body['id']}"
    assert r.headers["etag"] == '"1"'
    assert body["view"] == "host"
    assert body["host_id"] == host.id
    assert body["recurrence"] == {"rule": "FREQ=WEEKLY;BYDAY=MO;COUNT=10", "until": None}
    assert body["occurrence_count"] == 10
    # Ten Mondays from the first: the last ends at 11:00 London time (GMT in March's first half).
    assert body["last_ends_at"].startswith(f"{int(NEXT_MONDAY[:4])}-03-")
    assert (body["confirmed_count"], body["waitlisted_count"]) == (0, 0)


@pytest.mark.parametrize(
    ("overrides", "detail"),
    [
        ({"location": None}, "location is required for in_person"),
        ({"ends_at": f"{NEXT_MONDAY}T09:00:00Z"}, "ends_at must be after starts_at"),
        ({"recurrence": {"rule": "FREQ=HOURLY"}}, "FREQ is required and must be DAILY, WEEKLY or MONTHLY"),
        ({"recurrence": {"rule": "FREQ=WEEKLY;BYDAY=TU"}}, "starts_at must itself be an occurrence"),
        ({"recurrence": {"rule": "FREQ=DAILY"}}, "more than 366 occurrences within 731 days"),
        ({"starts_at": "2020-01-06T10:00:00Z", "ends_at": "2020-01-06T11:00:00Z"}, "already ended"),
    ],
)
async def test_a_bad_activity_is_a_422_that_says_why(
    client: httpx.AsyncClient, overrides: dict[str, Any], detail: str
) -> None:
    host = await member(client)
    r = await client.post("/v1/activities", json=activity_body(**overrides), headers=host.headers)
    assert detail in assert_problem(r, 422)["detail"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"timezone": "Mars/Olympus"},
        {"title": " \u200b "},
        {"accessibility": ["wheelchair_ramp"]},
        {"kind": "party"},
        {"capacity": 0},
    ],
)
async def test_schema_violations_are_422(client: httpx.AsyncClient, overrides: dict[str, Any]) -> None:
    host = await member(client)
    assert_problem(
        await client.post("/v1/activities", json=activity_body(**overrides), headers=host.headers), 422
    )


async def test_only_an_organisations_coordinators_host_for_it(client: httpx.AsyncClient) -> None:
    coordinator, volunteer = await member(client), await member(client)
    org = (await organization(client, coordinator))["id"]
    r = await client.post(
        "/v1/activities", json=activity_body(organization_id=org), headers=volunteer.headers
    )
    assert_problem(r, 422)
    r = await client.post(
        "/v1/activities", json=activity_body(organization_id=org), headers=coordinator.headers
    )
    assert r.status_code == 201
    assert r.json()["organization_id"] == org


async def test_edits_need_a_fresh_etag_and_keep_the_series_valid(client: httpx.AsyncClient) -> None:
    host = await member(client)
    a = await activity(client, host)
    path = f"/v1/activities/{a['id']}"
    r = await client.patch(path, json={"title": "Longer walk"}, headers={**host.headers, "If-Match": '"1"'})
    assert r.status_code == 200
    assert r.headers["etag"] == '"2"'
    stale = await client.patch(path, json={"title": "Again"}, headers={**host.headers, "If-Match": '"1"'})
    assert_problem(stale, 412)
    bad = await client.patch(
        path, json={"recurrence": {"rule": "FREQ=WEEKLY;BYDAY=FR"}}, headers=host.headers
    )
    assert "occurrence of the rule" in assert_problem(bad, 422)["detail"]
    r = await client.patch(path, json={"recurrence": None}, headers=host.headers)
    assert (r.json()["recurrence"], r.json()["occurrence_count"]) == (None, 1)
    stranger = await member(client)
    assert_problem(await client.patch(path, json={"title": "Mine"}, headers=stranger.headers), 403)


async def _join(client: httpx.AsyncClient, activity_id: str, who: Any) -> httpx.Response:
    return await client.post(f"/v1/activities/{activity_id}/join", headers=who.headers)


async def test_join_confirms_then_waitlists_and_a_leave_promotes_the_first(
    client: httpx.AsyncClient, fake_hooks: FakeHooks
) -> None:
    host = await member(client)
    a = await activity(client, host, capacity=2)
    people = [await member(client) for _ in range(4)]
    statuses = [(await _join(client, a["id"], p)).json()["status"] for p in people]
    assert statuses == ["confirmed", "confirmed", "waitlisted", "waitlisted"]
    again = await _join(client, a["id"], people[2])
    assert (again.status_code, again.json()["status"]) == (200, "waitlisted")

    r = await client.post(f"/v1/activities/{a['id']}/leave", headers=people[0].headers)
    assert r.status_code == 204
    assert fake_hooks.told == [(a["id"], [people[2].id], "promoted")]
    listed = (await client.get(f"/v1/activities/{a['id']}/participants", headers=host.headers)).json()
    assert [(p["member_id"], p["status"]) for p in listed["items"]] == [
        (people[1].id, "confirmed"),
        (people[2].id, "confirmed"),
        (people[3].id, "waitlisted"),
    ]
    assert listed["items"][0]["display_name"] == people[1].data["display_name"]
    # A waitlisted member leaving frees no confirmed place: nobody is promoted.
    await client.post(f"/v1/activities/{a['id']}/leave", headers=people[3].headers)
    assert len(fake_hooks.told) == 1
    assert_problem(await client.post(f"/v1/activities/{a['id']}/leave", headers=people[3].headers), 404)


async def test_a_larger_capacity_promotes_in_arrival_order_and_a_smaller_one_cannot_evict(
    client: httpx.AsyncClient, fake_hooks: FakeHooks
) -> None:
    host = await member(client)
    a = await activity(client, host, capacity=1)
    people = [await member(client) for _ in range(4)]
    for p in people:
        await _join(client, a["id"], p)
    r = await client.patch(f"/v1/activities/{a['id']}", json={"capacity": 3}, headers=host.headers)
    assert (r.json()["confirmed_count"], r.json()["waitlisted_count"]) == (3, 1)
    assert fake_hooks.told == [(a["id"], [people[1].id, people[2].id], "promoted")]
    r = await client.patch(f"/v1/activities/{a['id']}", json={"capacity": 2}, headers=host.headers)
    assert_problem(r, 409)
    r = await client.patch(f"/v1/activities/{a['id']}", json={"capacity": None}, headers=host.headers)
    assert (r.json()["confirmed_count"], r.json()["waitlisted_count"]) == (4, 0)


async def test_the_host_removes_a_participant_who_is_told(
    client: httpx.AsyncClient, fake_hooks: FakeHooks
) -> None:
    host = await member(client)
    a = await activity(client, host, capacity=1)
    first, second = await member(client), await member(client)
    await _join(client, a["id"], first)
    await _join(client, a["id"], second)
    r = await client.delete(f"/v1/activities/{a['id']}/participants/{first.id}", headers=host.headers)
    assert r.status_code == 204
    assert fake_hooks.told == [(a["id"], [first.id], "removed"), (a["id"], [second.id], "promoted")]


async def test_cancel_tells_everyone_and_closes_joining(
    client: httpx.AsyncClient, fake_hooks: FakeHooks
) -> None:
    host = await member(client)
    a = await activity(client, host, capacity=1)
    people = [await member(client) for _ in range(2)]
    for p in people:
        await _join(client, a["id"], p)
    r = await client.post(f"/v1/activities/{a['id']}/cancel", headers=host.headers)
    assert r.json()["status"] == "cancelled"
    # Everyone on it, confirmed or waitlisted, in one call (in no promised order).
    assert [(i, sorted(m), c) for i, m, c in fake_hooks.told] == [
        (a["id"], sorted(p.id for p in people), "cancelled")
    ]
    assert_problem(await _join(client, a["id"], await member(client)), 409)
    assert_problem(await _join(client, a["id"], people[0]), 409)  # a place on it is no place now
    assert_problem(await client.post(f"/v1/activities/{a['id']}/cancel", headers=host.headers), 409)


async def test_a_member_the_host_may_not_meet_finds_nothing_to_join(client: httpx.AsyncClient) -> None:
    host, blocked = await member(client), await member(client)
    a = await activity(client, host)
    assert (await client.put(f"/v1/members/me/blocks/{blocked.id}", headers=host.headers)).status_code == 204
    assert_problem(await _join(client, a["id"], blocked), 404)
    assert (await _join(client, a["id"], await member(client))).status_code == 201


async def test_webhooks_carry_ids_for_created_updated_cancelled(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    coordinator = await member(client)
    org = (await organization(client, coordinator))["id"]
    kinds = ["activity.created", "activity.updated", "activity.cancelled"]
    await subscribe(client, coordinator, org, "https://hooks.example.org/a", kinds)
    a = await activity(client, coordinator, organization_id=org)
    await client.patch(f"/v1/activities/{a['id']}", json={"title": "Renamed"}, headers=coordinator.headers)
    await client.post(f"/v1/activities/{a['id']}/cancel", headers=coordinator.headers)
    sent = await events(application)
    assert [e.type for e in sent] == kinds
    assert [e.payload["data"] for e in sent] == [
        {"organization_id": org, "activity_id": a["id"], "status": s} for s in ("open", "open", "cancelled")
    ]
