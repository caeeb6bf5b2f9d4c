"""Radius search and cursor pagination, checked against brute force on randomised data."""

import math
import random

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlmodel import select

from app.geo import haversine_km, round_half_km
from app.needs.models import Need
from app.spatial import RadiusQuery, within_sql
from tests.factories import assert_problem, insert_needs, member, need_body

CENTRES = [(51.5074, -0.1278), (-33.8688, 151.2093), (64.1466, -21.9426), (0.0, 179.95), (-89.5, 0.0)]


def _scatter(rng: random.Random, n: int) -> list[tuple[float, float]]:
    """Clusters at several scales around a few centres (one on the antimeridian, one at a pole)."""
    points = []
    for _ in range(n):
        lat0, lon0 = rng.choice(CENTRES)
        spread = rng.choice([0.01, 0.05, 0.3, 2.0])
        lat = max(-89.99, min(89.99, lat0 + rng.gauss(0, spread)))
        lon = (lon0 + rng.gauss(0, spread) + 180) % 360 - 180
        points.append((round(lat, 6), round(lon, 6)))
    return points


async def _walk(client: httpx.AsyncClient, query: str, limit: int) -> list[dict]:
    items, cursor = [], None
    while True:
        url = f"/v1/needs?{query}&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        r = await client.get(url)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items


async def test_radius_search_equals_brute_force(client: httpx.AsyncClient, application: FastAPI) -> None:
    rng = random.Random(7)
    owner = await member(client)
    await insert_needs(application, owner.id, _scatter(rng, 600))
    async with application.state.sessionmaker() as session:
        rows = (await session.exec(select(Need.id, Need.approx_lat, Need.approx_lon))).all()
    checked = 0
    for _ in range(30):
        lat0, lon0 = rng.choice(CENTRES)
        lat = max(-90.0, min(90.0, lat0 + rng.gauss(0, 0.5)))
        lon = (lon0 + rng.gauss(0, 0.5) + 180) % 360 - 180
        radius = rng.choice([0.4, 1.0, 2.5, 7.0, 15.0, 40.0, 150.0, 500.0])
        expected = {
            str(i): haversine_km(a_lat, a_lon, lat, lon)
            for i, a_lat, a_lon in rows
            if haversine_km(a_lat, a_lon, lat, lon) <= radius
        }
        items = await _walk(client, f"near={lat},{lon}&radius_km={radius}", limit=rng.choice([7, 50, 100]))
        got = [n["id"] for n in items]
        assert len(got) == len(set(got))
        assert set(got) == set(expected), (lat, lon, radius)
        # Nearest first, ties by id; each distance rounded to 0.5 km from the stand-in point.
        assert got == sorted(expected, key=lambda i: (expected[i], i))
        assert [n["distance_km"] for n in items] == [round_half_km(expected[i]) for i in got]
        checked += len(got)
    assert checked > 300  # the queries really found things


async def test_distance_is_rounded_to_half_km(client: httpx.AsyncClient) -> None:
    a = await member(client)
    await client.post("/v1/needs", json=need_body(location={"lat": 51.5, "lon": -0.12}), headers=a.headers)
    items = (await client.get("/v1/needs?near=51.53,-0.12&radius_km=20")).json()["items"]
    assert len(items) == 1
    assert items[0]["distance_km"] * 2 == math.floor(items[0]["distance_km"] * 2)


@pytest.mark.postgres
async def test_postgres_radius_query_uses_the_gist_index(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    owner = await member(client)
    await insert_needs(application, owner.id, _scatter(random.Random(3), 3000))
    within, _ = within_sql(Need, RadiusQuery(lat=51.5, lon=-0.12, radius_km=2.0), "postgresql")
    stmt = select(Need.id).where(within)
    sql = str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    async with application.state.engine.connect() as conn:
        await conn.execute(text("ANALYZE needs"))
        plan = "\n".join(r[0] for r in (await conn.exec_driver_sql("EXPLAIN " + sql)).all())
    assert "ix_needs_approx_geog" in plan, plan


async def test_walking_pages_returns_each_item_once_while_inserts_happen(client: httpx.AsyncClient) -> None:
    rng = random.Random(11)
    a = await member(client)
    original = set()
    for _ in range(45):
        body = need_body(rng)
        original.add((await client.post("/v1/needs", json=body, headers=a.headers)).json()["id"])
    for query in ("status=open", "near=51.5,-0.1&radius_km=30"):
        seen: list[str] = []
        cursor = None
        while True:
            url = f"/v1/needs?{query}&limit=7" + (f"&cursor={cursor}" if cursor else "")
            page = (await client.get(url)).json()
            seen += [n["id"] for n in page["items"]]
            # Others keep asking for help while we page.
            for _ in range(2):
                await client.post("/v1/needs", json=need_body(rng), headers=a.headers)
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)), "an item came twice"
        assert original <= set(seen), "an item was skipped"


async def test_limit_bounds_and_bad_cursor_are_422(client: httpx.AsyncClient) -> None:
    for query in (
        "limit=101",
        "limit=0",
        "limit=abc",
        "cursor=not-a-cursor",
        "cursor=WyJkIiwxLCJ4Il0",
        "near=51,0&cursor=WyJ0IiwiMjAyNiIsIngiXQ",
    ):
        body = assert_problem(await client.get(f"/v1/needs?{query}"), 422)
        assert body["errors"][0]["loc"][0] == "query"
    assert (await client.get("/v1/needs?limit=100")).status_code == 200


async def test_forged_cursors_are_422_not_500(client: httpx.AsyncClient) -> None:
    from app.core.pagination import encode_cursor

    forged = [
        encode_cursor("t", "2026-01-01T00:00:00", "00000000-0000-0000-0000-000000000000"),
        encode_cursor("t", "0001-01-01T00:00:00+01:00", "00000000-0000-0000-0000-000000000000"),
        encode_cursor("t", "yesterday", "00000000-0000-0000-0000-000000000000"),
    ]
    for cursor in forged:
        assert_problem(await client.get(f"/v1/needs?cursor={cursor}"), 422)
    for distance in (10**30, -1, "near", float("nan")):
        cursor = encode_cursor("d", distance, "00000000-0000-0000-0000-000000000000")
        assert_problem(await client.get(f"/v1/needs?near=51.5,0&cursor={cursor}"), 422)
