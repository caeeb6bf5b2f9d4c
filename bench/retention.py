"""Retention's purge at scale: 100,000 needs that ended long ago, and reads while it runs.

    uv run --frozen python -m bench.retention [--db postgresql+psycopg://...] [--needs 100000]
        [--batch 1000]

Loads the needs into their own Postgres database (recreated each run) by copying one need made
through the API, then runs the purge as the worker does (batches, each its own transaction)
while a client reads one live need (`GET /v1/needs/{id}`) in a loop, in the same process and
event loop as the purge. Prints the purge's time and rows touched, a second run's, and the
reads' latency percentiles during the first. Figures, not a test.
"""

import argparse
import asyncio
import statistics
import time
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import text

from app.core.config import Settings
from app.core.timeutil import utcnow
from app.datarights.retention import purge
from app.main import create_app
from app.needs.models import Need
from bench.candidates import ensure_database

DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/mutual_aid_bench_retention"
PASSWORD = "bench password 1"
PACE = 0.02  # seconds between reads during the purge


def _settings(url: str, batch: int) -> Settings:
    return Settings(
        database_url=url,
        environment="test",
        migrate_on_startup=False,
        jwt_secret="bench-secret-that-is-long-enough-0123456789",
        rate_limit_member="1000000/minute",
        retention_batch_size=batch,
    )


async def _owner_and_need(client: httpx.AsyncClient) -> tuple[dict[str, str], str]:
    body = {"email": "bench.owner@example.org", "password": PASSWORD, "display_name": "Bench Owner"}
    assert (await client.post("/v1/members", json=body)).status_code == 201
    token = await client.post("/v1/auth/token", data={"username": body["email"], "password": PASSWORD})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    need = {
        "category": "groceries",
        "title": "Shopping for the week",
        "mode": "in_person",
        "location": {"lat": 51.5, "lon": -0.12},
        "address": "Flat 1, Example Road",
        "contact": {"name": "Alex Example", "phone": "+44 20 7946 0123"},
    }
    r = await client.post("/v1/needs", json=need, headers=headers)
    assert r.status_code == 201, r.text
    return headers, str(r.json()["id"])


async def _copy_ended(app: Any, template: str, n: int) -> None:
    """n copies of the template need, cancelled 200 days ago, in one INSERT ... SELECT."""
    table: Any = Need.__table__  # type: ignore[attr-defined]
    kept = [c.name for c in table.columns if c.name not in ("id", "status", "updated_at")]
    columns = ", ".join(kept)
    sql = (
        f"INSERT INTO needs (id, status, updated_at, {columns}) "  # column names from the model
        f"SELECT gen_random_uuid(), 'cancelled', :ended, {columns} FROM needs, generate_series(1, :n) "
        "WHERE needs.id = :template"
    )
    async with app.state.engine.begin() as conn:
        await conn.execute(text(sql), {"n": n, "template": template, "ended": utcnow() - timedelta(days=200)})
    async with app.state.engine.connect() as conn:
        # As autovacuum would after a load this size: without statistics the planner takes
        # the status index and rereads every purged row in each batch.
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("ANALYZE needs"))


async def _read_while(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], done: asyncio.Event
) -> list[float]:
    latencies = []
    while not done.is_set():
        t0 = time.perf_counter()
        r = await client.get(path, headers=headers)
        latencies.append(1000 * (time.perf_counter() - t0))
        assert r.status_code == 200, r.text
    return latencies


def _percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=1000)[int(p * 10) - 1] if len(values) > 1 else values[0]


async def run(url: str, n: int, batch: int) -> None:
    ensure_database(url, reload=True)
    settings = _settings(url, batch)
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        headers, need_id = await _owner_and_need(client)
        await _copy_ended(app, need_id, n)
        await _read_while_n(client, f"/v1/needs/{need_id}", headers, 50)  # warm up
        baseline = await _read_while_n(client, f"/v1/needs/{need_id}", headers, 300)
        done = asyncio.Event()
        reader = asyncio.create_task(_read_while(client, f"/v1/needs/{need_id}", headers, done))
        t0 = time.perf_counter()
        first = await purge(app.state.sessionmaker, settings)
        took = time.perf_counter() - t0
        done.set()
        during = await reader
        t1 = time.perf_counter()
        second = await purge(app.state.sessionmaker, settings)
        took_again = time.perf_counter() - t1
        await _copy_ended(app, need_id, n)  # the same again, purged with nothing else running
        t2 = time.perf_counter()
        alone = await purge(app.state.sessionmaker, settings)
        took_alone = time.perf_counter() - t2
    await app.state.engine.dispose()
    print(f"{n:,} ended needs, batches of {batch}")
    print(f"first run (reads every {PACE * 1000:.0f} ms meanwhile): {took:.2f} s, rows touched {first}")
    print(f"second run: {took_again:.2f} s, rows touched {second}")
    print(f"another {n:,}, no reads meanwhile: {took_alone:.2f} s, rows touched {alone}")
    for label, values in (("idle", baseline), ("during purge", during)):
        print(
            f"GET /v1/needs/{{id}} {label}: {len(values)} reads, p50 {_percentile(values, 50):.1f} ms, "
            f"p99 {_percentile(values, 99):.1f} ms, max {max(values):.1f} ms"
        )


async def _read_while_n(client: httpx.AsyncClient, path: str, headers: dict[str, str], n: int) -> list[float]:
    latencies = []
    for _ in range(n):
        t0 = time.perf_counter()
        await client.get(path, headers=headers)
        latencies.append(1000 * (time.perf_counter() - t0))
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--needs", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(run(args.db, args.needs, args.batch))


if __name__ == "__main__":
    main()
