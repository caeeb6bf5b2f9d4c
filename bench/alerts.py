"""Nearby-need alerts: the fan-out for one new need among many active offers, on Postgres/PostGIS.

    uv run python -m bench.alerts [--offers 100000] [--needs 200] [--opted-in 0.3] [--db postgresql+psycopg://...]

Loads bench.candidates' synthetic city into its own database (kept between runs; --reload
starts again) and opts a share of its volunteers in to alerts. Then, for the same random needs,
times in the same run:
- the fan-out as it runs after a need commits (app.dispatch.alerts.alert_nearby: the one query over
  the offers' spatial index, the daily caps, the inbox rows), from its start until its
  transaction has committed the rows, one transaction per need;
- the fan-out's query and settling alone (who would be alerted; nothing written);
- a bare PostGIS radius query (ST_DWithin, 10 km, counting the offers), the floor.
The cap is lifted (a bench need alerts many times a day); the alerted counts are printed.
"""

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from sqlalchemy import Float, func, literal, text
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker
from app.dispatch.alerts import alert_nearby, eligible_volunteers
from app.needs.models import Need
from app.notifications.models import Notification
from app.offers.models import Offer
from app.spatial import geog
from bench.candidates import _libpq, _percentiles, ensure_database, load, random_needs

DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/mutual_aid_alerts_bench"
RADIUS_KM = 10.0


def opt_in(url: str, share: float, seed: int) -> None:
    """Alerts on for a fixed share of the volunteers (the same ones for the same seed)."""
    with psycopg.connect(_libpq(url)) as conn:
        conn.execute("DELETE FROM notifications")
        conn.execute("DELETE FROM alert_allowances")
        conn.execute("DELETE FROM need_alerts")
        conn.execute("DELETE FROM needs WHERE title = 'Bench'")  # an earlier run's
        conn.execute("DELETE FROM notification_settings")
        conn.execute(
            "INSERT INTO notification_settings (member_id, email, push, alerts, timezone, updated_at) "
            "SELECT id, true, false, '{\"enabled\": true}'::json, 'UTC', now() FROM members "
            "WHERE abs(hashtext(id::text || %s)) %% 1000 < %s",
            (str(seed), int(share * 1000)),
        )
        conn.commit()
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE notification_settings")


async def _timed(
    maker: async_sessionmaker[AsyncSession], call: Callable[[AsyncSession], Awaitable[int]]
) -> tuple[float, int]:
    """Milliseconds from the call's start until its transaction committed, and its count."""
    async with maker() as session:
        await session.exec(text("SELECT 1"))  # type: ignore[call-overload]  # the connection first
        started = time.perf_counter()
        found = await call(session)
        await session.commit()
        return 1000 * (time.perf_counter() - started), found


def _fan_out(need: Need) -> Callable[[AsyncSession], Awaitable[int]]:
    async def call(session: AsyncSession) -> int:
        return len(
            await alert_nearby(session, need=need, actor=None, per_day=1_000_000, per_source=1_000_000)
        )

    return call


def _query(need: Need) -> Callable[[AsyncSession], Awaitable[int]]:
    async def call(session: AsyncSession) -> int:
        return len(await eligible_volunteers(session, need=need))

    return call


def _radius(need: Need) -> Callable[[AsyncSession], Awaitable[int]]:
    here = geog(literal(need.approx_lon, Float()), literal(need.approx_lat, Float()))
    stmt = select(func.count()).where(
        func.ST_DWithin(geog(Offer.approx_lon, Offer.approx_lat), here, RADIUS_KM * 1000),
        col(Offer.status) == "active",
    )

    async def call(session: AsyncSession) -> int:
        return int((await session.exec(stmt)).one())

    return call


async def measure(url: str, needs: list[Need]) -> None:
    engine = make_engine(
        Settings(database_url=url, environment="test", migrate_on_startup=False, db_pool_size=2)
    )
    maker = make_sessionmaker(engine)
    # Stored, as a fan-out records whom it told of each (a need alerts each volunteer once);
    # of no member, so each is its own source and no per-source cap is reached.
    async with maker() as session:
        for need in needs:
            need.requester_id = None
        session.add_all(needs)
        await session.commit()
    warm, needs = needs[:10], needs[10:]
    for need in warm:  # warm the statement caches and the connection
        await _timed(maker, _fan_out(need))
    fan, query, radius = [], [], []
    alerted, within = [], []
    for need in needs:  # interleaved, so all see the same machine load
        ms, n = await _timed(maker, _fan_out(need))
        fan.append(ms)
        alerted.append(n)
        query.append((await _timed(maker, _query(need)))[0])
        ms, n = await _timed(maker, _radius(need))
        radius.append(ms)
        within.append(n)
    async with maker() as session:
        offers = (await session.exec(select(func.count()).select_from(Offer))).one()
        rows = (await session.exec(select(func.count()).select_from(Notification))).one()
        version: Any = (await session.exec(text("SELECT version()"))).one()  # type: ignore[call-overload]
    await engine.dispose()
    print(f"offers: {offers}; {version[0].split(',')[0]}; needs timed: {len(needs)}")
    print(f"alert fan-out, start to committed rows  {_percentiles(fan)}")
    print(f"  of which the query (no rows written)   {_percentiles(query)}")
    print(f"bare PostGIS ST_DWithin {RADIUS_KM:g} km count  {_percentiles(radius)}")
    print(
        f"volunteers alerted per need: mean {statistics.mean(alerted):.1f}, max {max(alerted)}; "
        f"offers within {RADIUS_KM:g} km: mean {statistics.mean(within):.0f}; inbox rows written: {rows}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--offers", type=int, default=100_000)
    parser.add_argument("--needs", type=int, default=200)
    parser.add_argument("--opted-in", type=float, default=0.3, help="share of volunteers with alerts on")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reload", action="store_true")
    args = parser.parse_args()
    ensure_database(args.db, args.reload)
    load(args.db, args.offers, args.seed)
    opt_in(args.db, args.opted_in, args.seed)
    asyncio.run(measure(args.db, random_needs(args.needs + 10, args.seed)))


if __name__ == "__main__":
    main()
