"""Candidates for one need among a million active offers, on Postgres/PostGIS.

    uv run python -m bench.candidates [--offers 1000000] [--needs 1000] [--db postgresql+psycopg://...]

Loads a synthetic city into its own database (kept between runs; --reload starts again), then
times, over the same random needs: the candidates service (SQL prefilter, KNN, filters, score),
a full scan with the same filters (no spatial index), and a bare PostGIS nearest-20 (the floor).
"""

import argparse
import asyncio
import json
import random
import resource
import statistics
import time
import uuid

import psycopg
from sqlalchemy import Float, func, literal, text
from sqlmodel import col, select

from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker
from app.geo import cell_ids, coarse_point
from app.matches.candidates import candidates
from app.migrate import upgrade_head
from app.needs.models import Need
from app.offers.models import Offer
from app.spatial import geog, haversine_sql
from app.vocab import Capability, Category, Mode, mask
from bench import city

DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/mutual_aid_bench"


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def ensure_database(url: str, reload: bool) -> None:
    admin, name = _libpq(url).rsplit("/", 1)
    with psycopg.connect(admin + "/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and reload:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
            exists = None
        if not exists:
            conn.execute(f"CREATE DATABASE {name}")
    upgrade_head(url)


def load(url: str, n_offers: int, seed: int) -> None:
    with psycopg.connect(_libpq(url)) as conn:
        have = conn.execute("SELECT count(*) FROM offers").fetchone()
        if have and have[0] >= n_offers:
            print(f"database already holds {have[0]} offers")
            return
        conn.execute("TRUNCATE offers, members CASCADE")
        rng = random.Random(seed)
        hoods = city.neighbourhoods(rng)
        volunteers = city.ids(max(1, n_offers // 5), rng)
        started = time.perf_counter()
        with conn.cursor().copy(
            "COPY members (id, email, password_hash, display_name, languages, created_at, "
            "updated_at) FROM STDIN"
        ) as copy:
            for i, v in enumerate(volunteers):
                copy.write_row(
                    (v, f"volunteer{i}@example.org", "not-a-hash", f"Volunteer {i}", "[]", city.NOW, city.NOW)
                )
        columns = (
            "id, volunteer_id, categories, modes, categories_mask, modes_mask, capabilities_mask, lat, lon, "
            "approx_lat, approx_lon, h3_r4, h3_r6, h3_r8, max_distance_km, availability, timezone, capacity, "
            "active_matches, languages, capabilities, status, version, created_at, updated_at"
        )
        with conn.cursor().copy(f"COPY offers ({columns}) FROM STDIN") as copy:
            for oid in city.ids(n_offers, rng):
                f = city.offer_fields(rng, hoods)
                a_lat, a_lon = coarse_point(f["lat"], f["lon"])
                cells = cell_ids(a_lat, a_lon)
                copy.write_row(
                    (
                        oid,
                        rng.choice(volunteers),
                        json.dumps(f["categories"]),
                        json.dumps(f["modes"]),
                        mask(f["categories"], Category),
                        mask(f["modes"], Mode),
                        mask(f["capabilities"], Capability),
                        f["lat"],
                        f["lon"],
                        a_lat,
                        a_lon,
                        cells[4],
                        cells[6],
                        cells[8],
                        f["max_distance_km"],
                        json.dumps(f["availability"]),
                        f["timezone"],
                        f["capacity"],
                        0,
                        json.dumps(f["languages"]),
                        json.dumps(f["capabilities"]),
                        "active",
                        1,
                        city.NOW,
                        city.NOW,
                    )
                )
        conn.commit()
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE offers")
        conn.execute("VACUUM ANALYZE members")
    print(f"loaded {n_offers} offers in {time.perf_counter() - started:.0f} s")


def random_needs(n: int, seed: int) -> list[Need]:
    rng = random.Random(seed + 1)
    hoods = city.neighbourhoods(random.Random(seed))
    out = []
    for _ in range(n):
        f = city.need_fields(rng, hoods, city.NOW)
        f["mode"] = "in_person"
        a_lat, a_lon = coarse_point(f["lat"], f["lon"])
        start, end = f["window"] or (None, None)
        out.append(
            Need(
                id=uuid.uuid4(),
                requester_id=uuid.uuid4(),
                category=f["category"],
                title="Bench",
                urgency=f["urgency"],
                mode="in_person",
                lat=f["lat"],
                lon=f["lon"],
                approx_lat=a_lat,
                approx_lon=a_lon,
                languages=f["languages"],
                requirements=f["requirements"],
                requirements_mask=mask(f["requirements"], Capability),
                window_start=start,
                window_end=end,
                created_at=f["created_at"],
                volunteers_needed=f["volunteers_needed"],
            )
        )
    return out


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return f"p50 {statistics.median(ordered):7.2f} ms  p99 {p99:7.2f} ms  (n={len(ordered)})"


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def measure(url: str, needs: list[Need], full_scan_needs: int) -> None:
    engine = make_engine(
        Settings(database_url=url, environment="test", migrate_on_startup=False, db_pool_size=2)
    )
    maker = make_sessionmaker(engine)
    async with maker() as session:
        for need in needs[:20]:  # warm the caches and the connection
            await candidates(session, need=need, limit=20)
        rss0 = _rss_mib()
        service, found = [], []
        for need in needs:
            t = time.perf_counter()
            found.append(len(await candidates(session, need=need, limit=20)))
            service.append(1000 * (time.perf_counter() - t))
        rss1 = _rss_mib()
        floor = []
        for need in needs:
            here = geog(literal(need.approx_lon, Float()), literal(need.approx_lat, Float()))
            stmt = (
                select(Offer.id).order_by(geog(Offer.approx_lon, Offer.approx_lat).op("<->")(here)).limit(20)
            )
            t = time.perf_counter()
            (await session.exec(stmt)).all()
            floor.append(1000 * (time.perf_counter() - t))
        scan = []
        for need in needs[:full_scan_needs]:
            d = haversine_sql(
                Offer.approx_lat, Offer.approx_lon, need.approx_lat or 0, need.approx_lon or 0, "postgresql"
            )
            scan_stmt = (
                select(Offer.id, d)
                .where(
                    col(Offer.status) == "active",
                    col(Offer.active_matches) < col(Offer.capacity),
                    col(Offer.categories_mask).op("&")(mask([need.category], Category)) != 0,
                    col(Offer.modes_mask).op("&")(mask(["in_person"], Mode)) != 0,
                    d <= col(Offer.max_distance_km),
                )
                .order_by(d)
                .limit(20)
            )
            t = time.perf_counter()
            (await session.exec(scan_stmt)).all()
            scan.append(1000 * (time.perf_counter() - t))
        count = (await session.exec(select(func.count()).select_from(Offer))).one()
        plan = (await session.exec(text("SELECT version()"))).one()  # type: ignore[call-overload]
    await engine.dispose()
    print(f"offers: {count}; {plan[0].split(',')[0]}")
    print(
        f"candidates service   {_percentiles(service)}  mean candidates returned {statistics.mean(found):.1f}"
    )
    print(f"full scan, same SQL  {_percentiles(scan)}")
    print(f"PostGIS nearest-20   {_percentiles(floor)}")
    print(f"peak RSS of this process: {rss1:.0f} MiB (grew {rss1 - rss0:.0f} MiB during the service runs)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--offers", type=int, default=1_000_000)
    parser.add_argument("--needs", type=int, default=1000)
    parser.add_argument("--full-scan-needs", type=int, default=50, help="the scan baseline is slow")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reload", action="store_true")
    args = parser.parse_args()
    ensure_database(args.db, args.reload)
    load(args.db, args.offers, args.seed)
    asyncio.run(measure(args.db, random_needs(args.needs, args.seed), args.full_scan_needs))


if __name__ == "__main__":
    main()
