"""Recurring needs over HTTP: the series in every view, its occurrences, cancelling one, candidates
checked against the next open occurrence, and a match naming one occurrence."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.factories import first_saturday, join, member, need_body, offer_body, organization, weekly_series

HERE = {"lat": 51.5, "lon": -0.12}


def z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


SATURDAYS = [first_saturday() + timedelta(days=7 * i) for i in range(5)]


async def _recurring(client: httpx.AsyncClient, who: Any, **overrides: Any) -> dict[str, Any]:
    body = need_body(location=HERE, **weekly_series(**overrides))
    r = await client.post("/v1/needs", json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_the_series_shows_in_owner_and_public_views(client: httpx.AsyncClient) -> None:
    owner, stranger = await member(client), await member(client)
    need = await _recurring(client, owner, recurrence={"rule": "RRULE:freq=weekly;count=5"})
    assert (need["timezone"], need["recurrence"]) == (
        "Europe/London",
        {"rule": "FREQ=WEEKLY;COUNT=5", "until": None},
    )
    assert need["next_occurrence_start"] == z(SATURDAYS[0])
    public = (await client.get(f"/v1/needs/{need['id']}", headers=stranger.headers)).json()
    assert public["view"] == "public"
    assert (public["timezone"], public["recurrence"]["rule"]) == ("Europe/London", "FREQ=WEEKLY;COUNT=5")
    anonymous = await client.get(f"/v1/needs/{need['id']}/occurrences")
    assert anonymous.status_code == 200
    assert anonymous.json()["items"] == [
        {"start": z(s), "end": z(s + timedelta(hours=2)), "status": "open"} for s in SATURDAYS
    ]


async def test_a_dst_change_keeps_the_local_time(client: httpx.AsyncClient) -> None:
    owner = await member(client)
    start = datetime(2027, 3, 20, 10, tzinfo=UTC)  # 10:00 GMT; London moves to BST on the 28th
    need = await _recurring(
        client,
        owner,
        window_start=z(start),
        window_end=z(start + timedelta(hours=1)),
        recurrence={"rule": "FREQ=WEEKLY;COUNT=3"},
    )
    got = (await client.get(f"/v1/needs/{need['id']}/occurrences?from=2027-03-01T00:00:00Z")).json()["items"]
    assert [o["start"] for o in got] == [
        "2027-03-20T10:00:00Z",
        "2027-03-27T10:00:00Z",
        "2027-04-03T09:00:00Z",
    ]


@pytest.mark.parametrize(
    ("fields", "loc", "reason"),
    [
        ({"recurrence": {"rule": "FREQ=YEARLY"}}, ["body", "recurrence", "rule"], "FREQ is required"),
        ({"recurrence": {"rule": "FREQ=DAILY"}}, ["body", "recurrence", "rule"], "more than 366 occurrences"),
        (
            {"recurrence": {"rule": "FREQ=WEEKLY;BYDAY=MO"}},
            ["body", "window_start"],
            "must itself be an occurrence",
        ),
        ({"timezone": None}, ["body"], "needs a timezone"),
        ({"timezone": "Mars/Olympus"}, ["body", "timezone"], "not an IANA time zone"),
    ],
)
async def test_a_bad_series_is_422_with_the_reason(
    client: httpx.AsyncClient, fields: dict[str, Any], loc: list[str], reason: str
) -> None:
    owner = await member(client)
    body = need_body(location=HERE, **weekly_series(**fields))
    if body["timezone"] is None:
        del body["timezone"]
    r = await client.post("/v1/needs", json=body, headers=owner.headers)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert any(e["loc"] == loc and reason in e["msg"] for e in problem.get("errors", [])) or (
        reason in problem["detail"]
    ), problem


@pytest.mark.parametrize(
    "query",
    [
        "from=2027-01-01T00:00:00Z&to=2028-06-01T00:00:00Z",  # longer than 366 days
        "from=2027-01-02T00:00:00Z&to=2027-01-01T00:00:00Z",  # backwards
        "from=2030-01-01T00:00:00Z&to=2030-02-01T00:00:00Z",  # past any series' horizon
        "from=2027-02-30T00:00:00Z",  # not a date
    ],
)
async def test_an_occurrence_range_is_bounded(client: httpx.AsyncClient, query: str) -> None:
    owner = await member(client)
    need = await _recurring(client, owner)
    r = await client.get(f"/v1/needs/{need['id']}/occurrences?{query}", headers=owner.headers)
    assert r.status_code == 422, r.text


async def test_cancelling_one_occurrence(client: httpx.AsyncClient) -> None:
    owner, stranger = await member(client), await member(client)
    need = await _recurring(client, owner, recurrence={"rule": "FREQ=WEEKLY;COUNT=3"})
    path = f"/v1/needs/{need['id']}/occurrences"
    stranger_try = await client.post(f"{path}/{z(SATURDAYS[1])}/cancel", headers=stranger.headers)
    assert stranger_try.status_code == 403  # a public need: seen, not owned
    r = await client.post(f"{path}/{z(SATURDAYS[1])}/cancel", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "start": z(SATURDAYS[1]),
        "end": z(SATURDAYS[1] + timedelta(hours=2)),
        "status": "cancelled",
    }
    listed = (await client.get(path, headers=owner.headers)).json()["items"]
    assert [o["status"] for o in listed] == ["open", "cancelled", "open"]
    assert (await client.post(f"{path}/{z(SATURDAYS[1])}/cancel", headers=owner.headers)).status_code == 409
    off_series = SATURDAYS[1] + timedelta(hours=1)
    assert (await client.post(f"{path}/{z(off_series)}/cancel", headers=owner.headers)).status_code == 404
    # The last one: the need is still open until it ends, then; cancelling the last open one is 409.
    assert (await client.post(f"{path}/{z(SATURDAYS[2])}/cancel", headers=owner.headers)).status_code == 200
    last = await client.post(f"{path}/{z(SATURDAYS[0])}/cancel", headers=owner.headers)
    assert last.status_code == 409
    assert "cancel the need instead" in last.json()["detail"]
    view = (await client.get(f"/v1/needs/{need['id']}", headers=owner.headers)).json()
    assert view["next_occurrence_start"] == z(SATURDAYS[0])


async def test_candidates_are_checked_against_the_next_open_occurrence(client: httpx.AsyncClient) -> None:
    owner, volunteer = await member(client), await member(client)
    # Saturdays and Mondays 10:00-12:00; the volunteer is free on Mondays only.
    need = await _recurring(client, owner, recurrence={"rule": "FREQ=WEEKLY;BYDAY=SA,MO;COUNT=4"})
    mondays = offer_body(location=HERE, availability=[{"day": "mon", "start": "09:00", "end": "13:00"}])
    offer = (await client.post("/v1/offers", json=mondays, headers=volunteer.headers)).json()
    candidates = f"/v1/needs/{need['id']}/candidates"
    assert (await client.get(candidates, headers=owner.headers)).json()["items"] == []
    cancel = f"/v1/needs/{need['id']}/occurrences/{z(SATURDAYS[0])}/cancel"
    assert (await client.post(cancel, headers=owner.headers)).status_code == 200
    found = (await client.get(candidates, headers=owner.headers)).json()["items"]
    assert [c["offer_id"] for c in found] == [offer["id"]]


async def test_a_match_may_name_one_open_occurrence(client: httpx.AsyncClient) -> None:
    owner, volunteer = await member(client), await member(client)
    need = await _recurring(client, owner)
    saturdays = offer_body(location=HERE, availability=[{"day": "sat", "start": "09:00", "end": "13:00"}])
    offer = (await client.post("/v1/offers", json=saturdays, headers=volunteer.headers)).json()
    pair = {"need_id": need["id"], "offer_id": offer["id"]}
    not_one = await client.post(
        "/v1/matches",
        json=pair | {"occurrence_start": z(SATURDAYS[1] + timedelta(days=1))},
        headers=volunteer.headers,
    )
    assert not_one.status_code == 422, not_one.text
    assert not_one.json()["errors"][0]["loc"] == ["body", "occurrence_start"]
    claimed = await client.post(
        "/v1/matches", json=pair | {"occurrence_start": z(SATURDAYS[1])}, headers=volunteer.headers
    )
    assert claimed.status_code == 201, claimed.text
    assert claimed.json()["occurrence_start"] == z(SATURDAYS[1])
    seen = (await client.get(f"/v1/matches/{claimed.json()['id']}", headers=owner.headers)).json()
    assert seen["occurrence_start"] == z(SATURDAYS[1])
    # Once that occurrence is cancelled, the claim can no longer be accepted.
    cancel = f"/v1/needs/{need['id']}/occurrences/{z(SATURDAYS[1])}/cancel"
    assert (await client.post(cancel, headers=owner.headers)).status_code == 200
    accept = await client.post(f"/v1/matches/{claimed.json()['id']}/accept", headers=owner.headers)
    assert accept.status_code == 409, accept.text


async def test_a_match_without_an_occurrence_covers_the_series(client: httpx.AsyncClient) -> None:
    owner, volunteer = await member(client), await member(client)
    need = await _recurring(client, owner)
    offer = (
        await client.post("/v1/offers", json=offer_body(location=HERE), headers=volunteer.headers)
    ).json()
    r = await client.post(
        "/v1/matches", json={"need_id": need["id"], "offer_id": offer["id"]}, headers=volunteer.headers
    )
    assert r.status_code == 201, r.text
    assert r.json()["occurrence_start"] is None


async def test_opportunities_and_batch_runs_use_the_next_open_occurrence(client: httpx.AsyncClient) -> None:
    coordinator, volunteer = await member(client), await member(client)
    org = (await organization(client, coordinator))["id"]
    await join(client, coordinator, org, volunteer)
    body = need_body(
        location=HERE,
        organization_id=org,
        **weekly_series(recurrence={"rule": "FREQ=WEEKLY;BYDAY=SA,MO;COUNT=4"}),
    )
    need = (await client.post("/v1/needs", json=body, headers=coordinator.headers)).json()
    mondays = offer_body(
        location=HERE, organization_id=org, availability=[{"day": "mon", "start": "09:00", "end": "13:00"}]
    )
    offer = (await client.post("/v1/offers", json=mondays, headers=volunteer.headers)).json()
    opportunities = f"/v1/offers/{offer['id']}/opportunities"
    run = {"organization_id": org, "dry_run": True}

    async def seen() -> tuple[list[str], list[str]]:
        found = (await client.get(opportunities, headers=volunteer.headers)).json()["items"]
        ran = (await client.post("/v1/matching/runs", json=run, headers=coordinator.headers)).json()
        return [n["id"] for n in found], [a["need_id"] for a in ran["assignments"]]

    assert await seen() == ([], [])  # Saturday first: the volunteer is free on Mondays only
    cancel = f"/v1/needs/{need['id']}/occurrences/{z(SATURDAYS[0])}/cancel"
    assert (await client.post(cancel, headers=coordinator.headers)).status_code == 200
    assert await seen() == ([need["id"]], [need["id"]])


async def test_an_edit_lays_the_series_out_again_or_ends_it(client: httpx.AsyncClient) -> None:
    owner = await member(client)
    need = await _recurring(client, owner)
    path = f"/v1/needs/{need['id']}"
    await client.post(f"{path}/occurrences/{z(SATURDAYS[1])}/cancel", headers=owner.headers)
    two = await client.patch(
        path, json={"recurrence": {"rule": "FREQ=WEEKLY;COUNT=2"}}, headers=owner.headers
    )
    assert two.status_code == 200, two.text
    listed = (await client.get(f"{path}/occurrences", headers=owner.headers)).json()["items"]
    assert [(o["start"], o["status"]) for o in listed] == [(z(s), "open") for s in SATURDAYS[:2]]
    bad = await client.patch(path, json={"recurrence": {"rule": "FREQ=HOURLY"}}, headers=owner.headers)
    assert bad.status_code == 422
    once = await client.patch(path, json={"recurrence": None}, headers=owner.headers)
    assert (once.json()["recurrence"], once.json()["next_occurrence_start"]) == (None, None)
    listed = (await client.get(f"{path}/occurrences", headers=owner.headers)).json()["items"]
    assert [o["start"] for o in listed] == [z(SATURDAYS[0])]
