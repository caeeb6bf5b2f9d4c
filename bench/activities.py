"""Radius search over activities, on Postgres/PostGIS: `GET /v1/activities?near=&radius_km=`.

    uv run --frozen python -m bench.activities [--activities 100000] [--queries 200] [--radius 2,10]
        [--db postgresql+psycopg://...]

Loads activities spread over bench.city's synthetic city (9 in 10 in person at a point, clustered
by neighbourhood; weekly series or one-offs over the next two months) into its own database (kept
between runs; --reload starts again). Then, for the same random points and each radius, times
in the same run, interleaved so every series sees the same machine load:
- the request in process: `GET /v1/activities?near=lat,lon&radius_km=r` through the whole app
  (routing, caller, rate limit, query, views, JSON) on an httpx ASGI transport, anonymous;
- the search service alone (`app.activities.search.list_activities`, one page of 20);
- the bare PostGIS query on the same rows: open activities not over with `ST_DWithin` on the
  same expression index, nearest first by KNN (`<->`), 21 rows (the floor).
"""

import argparse
import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from sqlalchemy import Float, func, literal, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.activities import search
from app.activities.models import Activity, ActivityKind
from app.auth.callers import Caller
from app.core.config import Settings
from app.geo import located
from app.main import create_app
from app.spatial import RadiusQuery, geog
from app.vocab import Accessibility, mask
from bench import city
from bench.candidates import Series, _backend_clock, _libpq, ensure_database

DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/mutual_aid_activities_bench"
PAGE = 20
COLUMNS = (
    "id, title, kind, mode, lat, lon, address, approx_lat, approx_lon, h3_r4, h3_r6, h3_r8, starts_at, "
    "ends_at, timezone, recurrence_rule, recurrence_until, last_ends_at, occurrence_count, capacity, "
    "confirmed_count, waitlisted_count, accessibility, accessibility_mask, languages, status, version, "
    "created_at, updated_at"
)
_FEATURES = [a.value for a in Accessibility]
_KINDS = [k.value for k in ActivityKind]


def _row(rng: random.Random, hoods: list[city.Neighbourhood], now: datetime) -> tuple[Any, ...]:
    start = (now + timedelta(hours=rng.randint(2, 24 * 60))).replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(hours=rng.choice([1, 1, 2, 3]))
    weekly = rng.random() < 0.6
    count = rng.randint(4, 20) if weekly else 1
    place: dict[str, Any] = dict.fromkeys(
        ("lat", "lon", "approx_lat", "approx_lon", "h3_r4", "h3_r6", "h3_r8")
    )
    remote = rng.random() < 0.1
    if not remote:
        place = located(*city.point(rng, hoods))
    features = rng.sample(_FEATURES, rng.choice([0, 1, 1, 2, 3]))
    return (
        city.ids(1, rng)[0],
        "Bench gathering",
        rng.choice(_KINDS),
        "remote" if remote else "in_person",
        place["lat"],
        place["lon"],
        None if remote else "Somewhere, Example Road",
        place["approx_lat"],
        place["approx_lon"],
        place["h3_r4"],
        place["h3_r6"],
        place["h3_r8"],
        start,
        end,
        "Europe/London",
        f"FREQ=WEEKLY;COUNT={count}" if weekly else None,
        None,
        end + timedelta(weeks=count - 1),
        count,
        rng.choice([None, 8, 12, 20, 50]),
        0,
        0,
        json.dumps(features),
        mask(features, Accessibility),
        json.dumps(["en"]),
        "open",
        1,
        now,
        now,
    )


def load(url: str, n: int, seed: int) -> None:
    with psycopg.connect(_libpq(url)) as conn:
        have = conn.execute("SELECT count(*) FROM activities WHERE last_ends_at > now()").fetchone()
        if have and have[0] >= n:
            print(f"database already holds {have[0]} activities not yet over")
            return
        conn.execute("TRUNCATE activities CASCADE")
        rng, now = random.Random(seed), datetime.now(UTC)
        hoods = city.neighbourhoods(random.Random(seed))
        started = time.perf_counter()
        with conn.cursor().copy(f"COPY activities ({COLUMNS}) FROM STDIN") as copy:
            for _ in range(n):
                copy.write_row(_row(rng, hoods, now))
        conn.commit()
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE activities")
    print(f"loaded {n} activities in {time.perf_counter() - started:.0f} s")


def points(n: int, seed: int) -> list[tuple[float, float]]:
    rng, hoods = random.Random(seed + 1), city.neighbourhoods(random.Random(seed))
    return [city.point(rng, hoods) for _ in range(n)]


def _floor(lat: float, lon: float, radius_km: float) -> Callable[[AsyncSession], Awaitable[int]]:
    here = geog(literal(lon, Float()), literal(lat, Float()))
    there = geog(Activity.approx_lon, Activity.approx_lat)
    stmt = (
        select(Activity.id)
        .where(
            col(Activity.status) == "open",
            col(Activity.last_ends_at) > func.now(),
            func.ST_DWithin(there, here, radius_km * 1000),
        )
        .order_by(there.op("<->")(here))
        .limit(PAGE + 1)
    )

    async def call(session: AsyncSession) -> int:
        return len((await session.exec(stmt)).all())

    return call


def _service(lat: float, lon: float, radius_km: float) -> Callable[[AsyncSession], Awaitable[int]]:
    filters = search.ActivityFilters(near=RadiusQuery(lat, lon, radius_km))

    async def call(session: AsyncSession) -> int:
        rows, _ = await search.list_activities(
            session, caller=Caller(), filters=filters, limit=PAGE, cursor=None
        )
        return len(rows)

    return call


async def _within(session: AsyncSession, lat: float, lon: float, radius_km: float) -> int:
    here = geog(literal(lon, Float()), literal(lat, Float()))
    stmt = select(func.count()).where(
        col(Activity.status) == "open",
        col(Activity.last_ends_at) > func.now(),
        func.ST_DWithin(geog(Activity.approx_lon, Activity.approx_lat), here, radius_km * 1000),
    )
    return int((await session.exec(stmt)).one())


async def _timed_db(
    session: AsyncSession, clock: Any, out: Series, call: Callable[..., Awaitable[int]]
) -> int:
    b0, c0, t0 = clock() if clock else 0, time.thread_time_ns(), time.perf_counter()
    found = await call(session)
    out.wall.append(1000 * (time.perf_counter() - t0))
    if clock:
        out.cpu.append((time.thread_time_ns() - c0 + clock() - b0) / 1e6)
    return found


async def _one_radius(
    client: httpx.AsyncClient, session: AsyncSession, clock: Any, at: list[tuple[float, float]], radius: float
) -> None:
    def params(lat: float, lon: float) -> dict[str, Any]:
        return {"near": f"{lat},{lon}", "radius_km": radius}

    for lat, lon in at[:10]:  # warm the statement caches, the connection, the app
        await client.get("/v1/activities", params=params(lat, lon))
        await _service(lat, lon, radius)(session)
        await _floor(lat, lon, radius)(session)
    http, service, floor = Series(), Series(), Series()
    within, listed = [], []
    for lat, lon in at:
        t0 = time.perf_counter()
        r = await client.get("/v1/activities", params=params(lat, lon))
        http.wall.append(1000 * (time.perf_counter() - t0))
        assert r.status_code == 200, r.text
        listed.append(len(r.json()["items"]))
        await _timed_db(session, clock, service, _service(lat, lon, radius))
        await _timed_db(session, clock, floor, _floor(lat, lon, radius))
        within.append(await _within(session, lat, lon, radius))
    print(
        f"radius {radius:g} km: activities within, mean {sum(within) / len(within):.0f}, "
        f"max {max(within)}; items per page, mean {sum(listed) / len(listed):.1f}"
    )
    print(http.line("  GET, in process", cpu=False))
    print(service.line("  search service"))
    print(floor.line("  bare PostGIS KNN"))
    for name, series in (("GET", http), ("search service", service)):
        print(f"  {name} / bare PostGIS: p50 {_ratio(series, floor, 0.5)}, p99 {_ratio(series, floor, 0.99)}")


def _ratio(series: Series, floor: Series, q: float) -> str:
    def at(samples: list[float]) -> float:
        ordered = sorted(samples)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return f"{at(series.wall) / at(floor.wall):.1f}x"


async def measure(url: str, at: list[tuple[float, float]], radii: list[float]) -> None:
    settings = Settings(
        database_url=url,
        environment="test",
        migrate_on_startup=False,
        db_pool_size=2,
        rate_limit_anonymous="100000000/minute",  # the bench, not the limiter
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://bench") as client,
        app.state.sessionmaker() as session,
    ):
        pid = (await session.exec(text("SELECT pg_backend_pid()"))).one()[0]
        total = (await session.exec(select(func.count()).select_from(Activity))).one()
        version: Any = (await session.exec(text("SELECT version()"))).one()
        print(f"activities: {total}; {version[0].split(',')[0]}; points: {len(at)}; page {PAGE}")
        for radius in radii:
            await _one_radius(client, session, _backend_clock(pid), at, radius)
    await app.state.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--activities", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--radius", default="2,10", help="radii in km, comma-separated (API default 10)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reload", action="store_true")
    args = parser.parse_args()
    ensure_database(args.db, args.reload)
    load(args.db, args.activities, args.seed)
    radii = [float(r) for r in args.radius.split(",")]
    asyncio.run(measure(args.db, points(args.queries, args.seed), radii))


if __name__ == "__main__":
    main()
