"""Listing activities: radius search against brute-force haversine, filters and pages."""

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlmodel import select

from app.activities.models import Activity
from app.geo import haversine_km, located, round_half_km
from app.spatial import RadiusQuery, nearest_first
from app.vocab import Accessibility, mask
from tests.factories import NEXT_YEAR, assert_problem, member

START = datetime(NEXT_YEAR, 2, 1, 10, tzinfo=UTC)


async def _insert(application: FastAPI, host_id: str, rows: list[dict[str, Any]]) -> None:
    """Many activities straight into the database, for search tests that need volume."""
    async with application.state.sessionmaker() as session:
        for i, row in enumerate(rows):
            starts = START + timedelta(hours=row.get("hour", i))
            session.add(
                Activity(
                    host_id=uuid.UUID(host_id),
                    title=f"Gathering {i}",
                    kind=row.get("kind", "walk"),
                    mode="in_person",
                    starts_at=starts,
                    ends_at=starts + timedelta(hours=1),
                    last_ends_at=starts + timedelta(hours=1),
                    timezone="Europe/London",
                    accessibility=row.get("accessibility", []),
                    accessibility_mask=mask(row.get("accessibility", []), Accessibility),
                    **located(row["lat"], row["lon"]),
                )
            )
        await session.commit()


async def _all_pages(client: httpx.AsyncClient, query: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        url = f"/v1/activities?{query}&limit=7" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(url)).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_radius_search_agrees_with_brute_force_haversine(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    rng = random.Random(20261130)
    host = await member(client)
    points = [{"lat": 51.3 + rng.random() * 0.4, "lon": -0.5 + rng.random() * 0.8} for _ in range(150)]
    await _insert(application, host.id, points)
    stand_ins = [located(p["lat"], p["lon"]) for p in points]
    for lat, lon, radius in [(51.5, -0.12, 3.0), (51.45, -0.2, 8.0), (51.5, -0.1, 25.0), (51.6, 0.2, 0.5)]:
        items = await _all_pages(client, f"near={lat},{lon}&radius_km={radius}")
        want = sorted(
            (haversine_km(lat, lon, s["approx_lat"], s["approx_lon"]), f"Gathering {i}")
            for i, s in enumerate(stand_ins)
            if haversine_km(lat, lon, s["approx_lat"], s["approx_lon"]) <= radius
        )
        assert sorted(i["title"] for i in items) == sorted(t for _, t in want)
        assert [i["distance_km"] for i in items] == [round_half_km(d) for d, _ in want]


async def test_filters_and_soonest_first(client: httpx.AsyncClient, application: FastAPI) -> None:
    host = await member(client)
    here = {"lat": 51.5, "lon": -0.12}
    await _insert(
        application,
        host.id,
        [
            {**here, "hour": 5, "kind": "walk", "accessibility": ["step_free", "seating"]},
            {**here, "hour": 1, "kind": "garden", "accessibility": ["step_free"]},
            {**here, "hour": 3, "kind": "walk"},
        ],
    )
    titles = [i["title"] for i in await _all_pages(client, "mode=in_person")]
    assert titles == ["Gathering 1", "Gathering 2", "Gathering 0"]
    assert [i["title"] for i in await _all_pages(client, "kind=walk")] == ["Gathering 2", "Gathering 0"]
    both = await _all_pages(client, "accessibility=step_free&accessibility=seating")
    assert [i["title"] for i in both] == ["Gathering 0"]
    later = (START + timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    assert [i["title"] for i in await _all_pages(client, f"from={later}")] == ["Gathering 2", "Gathering 0"]
    assert [i["title"] for i in await _all_pages(client, f"to={later}")] == ["Gathering 1"]


@pytest.mark.parametrize(
    "query",
    ["radius_km=5", "near=91,0", "near=here", "cursor=nonsense", "accessibility=ramp", "from=yesterday"],
)
async def test_bad_queries_are_422(client: httpx.AsyncClient, query: str) -> None:
    assert_problem(await client.get(f"/v1/activities?{query}"), 422)


@pytest.mark.postgres
async def test_pages_through_ties_once_each_in_order(client: httpx.AsyncClient, application: FastAPI) -> None:
    """Many activities share a few stand-in points, so most distances tie: walking small pages
    gives each exactly once, by (haversine distance, id), and the search reads the GiST index
    nearest first rather than sorting everything within the radius."""
    rng = random.Random(4)
    host = await member(client)
    spots = [(51.5, -0.12), (51.503, -0.125), (51.49, -0.11), (51.52, -0.14)]
    await _insert(
        application, host.id, [dict(zip(("lat", "lon"), rng.choice(spots), strict=True)) for _ in range(90)]
    )
    async with application.state.sessionmaker() as session:
        rows = (await session.exec(select(Activity.id, Activity.approx_lat, Activity.approx_lon))).all()
    lat, lon = 51.501, -0.121
    distance = {str(i): haversine_km(lat, lon, a_lat, a_lon) for i, a_lat, a_lon in rows}
    assert len(set(distance.values())) <= len(spots) < len(distance) // 10  # ties, many of them
    for limit in (1, 7, 20):
        seen: list[str] = []
        cursor = None
        while True:
            url = f"/v1/activities?near={lat},{lon}&radius_km=10&limit={limit}"
            page = (await client.get(url + (f"&cursor={cursor}" if cursor else ""))).json()
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == sorted(distance, key=lambda i: (distance[i], i)), limit

    near = RadiusQuery(lat=lat, lon=lon, radius_km=10.0)
    stmt = nearest_first(Activity, near, "postgresql", [], (distance[seen[30]], uuid.UUID(seen[30])), 8)
    sql = str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    async with application.state.engine.connect() as conn:
        # A table this small is cheaper to read whole; what is checked is that the statement's
        # expressions match the index's, so that a table of any size can walk it nearest first.
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(r[0] for r in (await conn.exec_driver_sql("EXPLAIN " + sql)).all())
    knn = [line for line in plan.splitlines() if "Order By: (" in line and "<->" in line]
    assert knn, plan
    assert "Index Scan using ix_activities_approx_geog" in plan, plan
