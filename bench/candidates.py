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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Float, func, literal, text
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker
from app.dispatch.candidates import MAX_POOL, POOL, candidates
from app.dispatch.pools import WALK
from app.geo import cell_ids, coarse_point
from app.matching.masks import offer_columns
from app.migrate import upgrade_head
from app.needs.models import Need
from app.offers.models import Offer
from app.spatial import geog, haversine_sql
from app.vocab import Capability, Category, Mode, mask
from bench import city

DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/mutual_aid_bench"
MASK_COLUMNS = ("languages_mask", "availability_mask_0", "availability_mask_1", "availability_mask_2")


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
            "active_matches, languages, capabilities, status, version, created_at, updated_at, "
            + ", ".join(MASK_COLUMNS)
        )
        with conn.cursor().copy(f"COPY offers ({columns}) FROM STDIN") as copy:
            for oid in city.ids(n_offers, rng):
                f = city.offer_fields(rng, hoods)
                a_lat, a_lon = coarse_point(f["lat"], f["lon"])
                cells = cell_ids(a_lat, a_lon)
                masks = offer_columns(f["languages"], f["availability"], f["timezone"])
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
                        *(masks[c] for c in MASK_COLUMNS),
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
    return f"p50 {statistics.median(ordered):7.2f} ms  p99 {p99:7.2f} ms"


def _quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return statistics.median(ordered) if q == 0.5 else ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Series:
    """Wall time per call and, where the database runs on this machine, time on a CPU: this
    thread's plus its Postgres backend's. On a shared machine the second barely moves while the
    first waits for a core."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def line(self, name: str, cpu: bool = True) -> str:
        out = f"{name:<20} wall {_percentiles(self.wall)}"
        if self.cpu and cpu:
            out += f" | on CPU {_percentiles(self.cpu)}"
        return f"{out}  (n={len(self.wall)})"


def _backend_clock(pid: int) -> Callable[[], int] | None:
    """Nanoseconds a Postgres backend has spent on a CPU (Linux), None when it runs elsewhere."""
    stat = Path(f"/proc/{pid}/schedstat")
    return (lambda: int(stat.read_text().split()[0])) if stat.exists() else None


async def _series(
    maker: async_sessionmaker[AsyncSession], calls: Sequence[Callable[[AsyncSession], Awaitable[Any]]]
) -> tuple[Series, list[Any]]:
    """Each series in a transaction of its own, so no setting one makes leaks into the next."""
    out, results = Series(), []
    async with maker() as session:
        pid = (await session.exec(text("SELECT pg_backend_pid()"))).one()[0]  # type: ignore[call-overload]
        backend = _backend_clock(pid)
        for call in calls:
            b0, c0, t0 = backend() if backend else 0, time.thread_time_ns(), time.perf_counter()
            results.append(await call(session))
            out.wall.append(1000 * (time.perf_counter() - t0))
            if backend:
                out.cpu.append((time.thread_time_ns() - c0 + backend() - b0) / 1e6)
    return out, results


def _floor(need: Need) -> Callable[[AsyncSession], Awaitable[Any]]:
    here = geog(literal(need.approx_lon, Float()), literal(need.approx_lat, Float()))
    stmt = select(Offer.id).order_by(geog(Offer.approx_lon, Offer.approx_lat).op("<->")(here)).limit(20)
    return lambda session: session.exec(stmt)


def _scan(need: Need) -> Callable[[AsyncSession], Awaitable[Any]]:
    lat, lon = need.approx_lat or 0, need.approx_lon or 0
    d = haversine_sql(Offer.approx_lat, Offer.approx_lon, lat, lon, "postgresql")
    stmt = (
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
    return lambda session: session.exec(stmt)


def _service(need: Need) -> Callable[[AsyncSession], Awaitable[Any]]:
    async def call(session: AsyncSession) -> int:
        return len(await candidates(session, need=need, limit=20))

    return call


async def measure(url: str, needs: list[Need], full_scan_needs: int) -> None:
    engine = make_engine(
        Settings(database_url=url, environment="test", migrate_on_startup=False, db_pool_size=2)
    )
    maker = make_sessionmaker(engine)
    await _series(maker, [_service(n) for n in needs[:20]])  # warm the caches and the connection
    rss0 = _rss_mib()
    service, found = await _series(maker, [_service(n) for n in needs])
    rss1 = _rss_mib()
    floor, _ = await _series(maker, [_floor(n) for n in needs])
    scan, _ = await _series(maker, [_scan(n) for n in needs[:full_scan_needs]])
    async with maker() as session:
        count = (await session.exec(select(func.count()).select_from(Offer))).one()
        version = (await session.exec(text("SELECT version()"))).one()  # type: ignore[call-overload]
    await engine.dispose()
    print(f"offers: {count}; {version[0].split(',')[0]}; pool {POOL} to {MAX_POOL}, walk {WALK}")
    returned = statistics.mean(found)
    print(f"{service.line('candidates service')}  mean candidates returned {returned:.2f}")
    # Needs asking for a language few offers speak (in this city, anything but English).
    rare = [i for i, n in enumerate(needs) if set(n.languages) - {"en"}]
    picked = Series([service.wall[i] for i in rare], [service.cpu[i] for i in rare if service.cpu])
    print(picked.line("  of which rare lang."))
    if scan.wall:  # --full-scan-needs 0 skips it
        print(scan.line("full scan, same SQL", cpu=False))  # parallel workers' CPU is not the backend's
    print(floor.line("PostGIS nearest-20"))
    for name, ours, base in (("wall", service.wall, floor.wall), ("on CPU", service.cpu, floor.cpu)):
        if ours and base:
            p50, p99 = (_quantile(ours, q) / _quantile(base, q) for q in (0.5, 0.99))
            print(f"service / nearest-20, {name}: p50 {p50:.1f}x, p99 {p99:.1f}x")
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
