"""Nearby-need alerts: exactly the opted-in volunteers whose opportunities list a new public need.

The property: in any neighbourhood (offers near and far, reaches, categories, alert settings,
blocks), the members told `need.nearby` of a new need are exactly those who opted in, whose own
filters take it, and one of whose offers lists it in GET /offers/{id}/opportunities. Each example
is played over HTTP (as tests/safety/test_blocks_property.py explains).
"""

import itertools
from dataclasses import dataclass, replace
from typing import Any

import httpx
from anyio import from_thread, to_thread
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.factories import Member, api_key, member, need_body, offer_body, organization

CATEGORIES = ["groceries", "errands"]
PEOPLE = 4
_places = itertools.count()


@dataclass(frozen=True)
class Person:
    offer_categories: list[str]
    east_km: float  # where their offer is, east of the need
    reach_km: float
    enabled: bool
    categories: list[str] | None
    radius_km: float | None
    blocked: bool  # blocked with the requester (by either)


people = st.builds(
    Person,
    offer_categories=st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=2, unique=True),
    east_km=st.sampled_from([0.0, 1.0, 3.0, 6.0]),
    reach_km=st.sampled_from([2.0, 5.0, 10.0]),
    enabled=st.booleans(),
    categories=st.none() | st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=2, unique=True),
    radius_km=st.none() | st.sampled_from([0.5, 2.0, 4.0]),
    blocked=st.booleans(),
)
hoods = st.tuples(st.lists(people, min_size=1, max_size=PEOPLE), st.sampled_from(CATEGORIES))
# Whatever Hypothesis draws, one neighbourhood where each way to be left out meets one alerted.
NEAR = Person(["groceries"], 0.0, 5.0, enabled=True, categories=None, radius_km=None, blocked=False)
EVERY_CASE = (
    [
        NEAR,
        replace(NEAR, enabled=False),
        replace(NEAR, blocked=True),
        replace(NEAR, categories=["errands"]),
        replace(NEAR, east_km=3.0, radius_km=0.5),
    ],
    "groceries",
)


def _east(here: dict[str, float], km: float) -> dict[str, float]:
    return {"lat": here["lat"], "lon": round(here["lon"] + km / 85.0, 6)}  # ~85 km a degree at -40


async def alerted(client: httpx.AsyncClient, who: Member, need_id: str) -> bool:
    items = (await client.get("/v1/notifications", headers=who.headers)).json()["items"]
    return any(n["type"] == "need.nearby" and n["data"]["need_id"] == need_id for n in items)


async def opt_in(client: httpx.AsyncClient, who: Member, **alerts: Any) -> None:
    body = {"alerts": {"enabled": True, **alerts}}
    r = await client.put("/v1/members/me/notification-settings", json=body, headers=who.headers)
    assert r.status_code == 200, r.text


@dataclass
class Seen:
    examples: int = 0
    alerted: int = 0
    refused: int = 0  # listed it, but opted out, filtered or blocked


async def _play(client: httpx.AsyncClient, hood: tuple[list[Person], str], seen: Seen) -> None:
    persons, category = hood
    # A place of its own per example, so no earlier example's offer reaches this need.
    here = {"lat": -40.0 + next(_places) * 0.5, "lon": 150.0}
    requester = await member(client)
    volunteers = [await member(client) for _ in persons]
    offers = {}
    for who, p in zip(volunteers, persons, strict=True):
        body = offer_body(
            categories=p.offer_categories,
            location=_east(here, p.east_km),
            availability=[],
            max_distance_km=p.reach_km,
        )
        r = await client.post("/v1/offers", json=body, headers=who.headers)
        assert r.status_code == 201, r.text
        offers[who.id] = r.json()["id"]
        if p.enabled:
            filters = {k: v for k, v in (("categories", p.categories), ("radius_km", p.radius_km)) if v}
            await opt_in(client, who, **filters)
        if p.blocked:
            r = await client.put(f"/v1/members/me/blocks/{who.id}", headers=requester.headers)
            assert r.status_code == 204, r.text
    body = need_body(category=category, location=here, window_start=None, window_end=None)
    created = await client.post("/v1/needs", json=body, headers=requester.headers)
    assert created.status_code == 201, created.text
    need_id = created.json()["id"]
    for who, p in zip(volunteers, persons, strict=True):
        r = await client.get(f"/v1/offers/{offers[who.id]}/opportunities", headers=who.headers)
        listed = [o for o in r.json()["items"] if o["id"] == need_id]
        wanted = (
            bool(listed)
            and p.enabled
            and (p.categories is None or category in p.categories)
            and (p.radius_km is None or listed[0]["distance_km"] <= p.radius_km)
        )
        got = await alerted(client, who, need_id)
        assert got == wanted, (p, listed)
        seen.alerted += got
        seen.refused += bool(listed) and not got
    assert not await alerted(client, requester, need_id)
    seen.examples += 1


async def test_the_alerted_are_exactly_the_opted_in_whose_opportunities_list_the_need(
    client: httpx.AsyncClient,
) -> None:
    seen = Seen()

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(hoods)
    @example(EVERY_CASE)
    def check(hood: tuple[list[Person], str]) -> None:
        from_thread.run(_play, client, hood, seen)

    await to_thread.run_sync(check)
    assert seen.examples >= 26
    assert seen.alerted, "no example alerted anyone"
    assert seen.refused, "no example listed a need to someone who was not alerted"


async def test_an_alert_carries_the_public_view_only(client: httpx.AsyncClient) -> None:
    requester, volunteer = await member(client), await member(client)
    here = {"lat": 51.5123, "lon": -0.1234}
    r = await client.post(
        "/v1/offers", json=offer_body(location=here, availability=[]), headers=volunteer.headers
    )
    assert r.status_code == 201, r.text
    await opt_in(client, volunteer)
    need = await client.post("/v1/needs", json=need_body(location=here), headers=requester.headers)
    public = (await client.get(f"/v1/needs/{need.json()['id']}")).json()
    items = (await client.get("/v1/notifications", headers=volunteer.headers)).json()["items"]
    assert [(n["type"], n["data"]) for n in items] == [
        (
            "need.nearby",
            {
                "need_id": public["id"],
                "category": "groceries",
                "mode": "in_person",
                "urgency": "normal",
                "approx_location": public["approx_location"],
            },
        )
    ]
    assert public["approx_location"] != here


async def _alerts_of(client: httpx.AsyncClient, who: Member) -> list[str]:
    items = (await client.get("/v1/notifications?limit=100", headers=who.headers)).json()["items"]
    return [n["data"]["need_id"] for n in items if n["type"] == "need.nearby"]


async def _volunteer_at(client: httpx.AsyncClient, here: dict[str, float]) -> Member:
    volunteer = await member(client)
    r = await client.post(
        "/v1/offers", json=offer_body(location=here, availability=[]), headers=volunteer.headers
    )
    assert r.status_code == 201, r.text
    await opt_in(client, volunteer)
    return volunteer


async def test_an_edit_that_makes_a_need_public_alerts_once_however_often_it_is_made(
    client: httpx.AsyncClient,
) -> None:
    coordinator = await member(client)
    org = (await organization(client, coordinator))["id"]
    here = {"lat": 48.85, "lon": 2.35}
    volunteer = await _volunteer_at(client, here)
    hidden = need_body(location=here, organization_id=org, visibility="organization")
    need = await client.post("/v1/needs", json=hidden, headers=coordinator.headers)
    assert not await alerted(client, volunteer, need.json()["id"])
    url = f"/v1/needs/{need.json()['id']}"
    for _ in range(4):  # made private and public again: told once, the day's alerts kept
        for visibility in ("public", "organization"):
            r = await client.patch(url, json={"visibility": visibility}, headers=coordinator.headers)
            assert r.status_code == 200, r.text
    assert await _alerts_of(client, volunteer) == [need.json()["id"]]
    # Someone else's need, later that day, still reaches them.
    other = await client.post(
        "/v1/needs", json=need_body(location=here), headers=(await member(client)).headers
    )
    assert other.status_code == 201, other.text
    assert await alerted(client, volunteer, other.json()["id"])


async def test_one_source_takes_at_most_its_share_of_a_volunteers_day(client: httpx.AsyncClient) -> None:
    coordinator, neighbour = await member(client), await member(client)
    org = (await organization(client, coordinator))["id"]
    here = {"lat": 48.86, "lon": 2.36}
    volunteer = await _volunteer_at(client, here)
    filed = []
    for _ in range(5):  # an organisation's intake is not limited per day; its alerts are
        r = await client.post(
            "/v1/needs", json=need_body(location=here, organization_id=org), headers=coordinator.headers
        )
        assert r.status_code == 201, r.text
        filed.append(r.json()["id"])
    assert sorted(await _alerts_of(client, volunteer)) == sorted(filed[:3])  # ALERTS_PER_SOURCE_PER_DAY
    # Another source is not held back by the first one's.
    r = await client.post("/v1/needs", json=need_body(location=here), headers=neighbour.headers)
    assert r.status_code == 201, r.text
    assert await alerted(client, volunteer, r.json()["id"])


async def test_the_daily_cap_holds_across_sources(client: httpx.AsyncClient) -> None:
    here = {"lat": 48.87, "lon": 2.37}
    volunteer = await _volunteer_at(client, here)
    for _ in range(6):  # six sources, two needs each: the day's ten, then nothing
        requester = await member(client)
        for _ in range(2):
            r = await client.post("/v1/needs", json=need_body(location=here), headers=requester.headers)
            assert r.status_code == 201, r.text
    assert len(await _alerts_of(client, volunteer)) == 10  # ALERTS_PER_DAY's default


async def test_one_person_is_one_source_however_many_organisations_or_keys_they_file_through(
    client: httpx.AsyncClient,
) -> None:
    """Anyone may start organisations, and each one's intake is unlimited: the share is the
    filer's, through any of their organisations or the keys they made."""
    founder, neighbour = await member(client), await member(client)
    here = {"lat": 48.88, "lon": 2.38}
    volunteer = await _volunteer_at(client, here)
    for _ in range(3):
        org = (await organization(client, founder))["id"]
        key = await api_key(client, founder, org, ["needs:read", "needs:write"])
        for headers in (founder.headers, key["headers"]):
            body = need_body(location=here, organization_id=org)
            r = await client.post("/v1/needs", json=body, headers=headers)
            assert r.status_code == 201, r.text
    assert len(await _alerts_of(client, volunteer)) == 3  # ALERTS_PER_SOURCE_PER_DAY
    r = await client.post("/v1/needs", json=need_body(location=here), headers=neighbour.headers)
    assert r.status_code == 201, r.text
    assert await alerted(client, volunteer, r.json()["id"])
