"""Does `POST /v1/auth/password-reset` take as long for an unregistered address as for a registered one?

    uv run python -m bench.reset_timing [--db sqlite+aiosqlite:///./reset-bench.db] [--n 50]

In process (httpx's ASGI transport, no network), on a fresh SQLite file unless --db names a
database (its tables are created if missing, and the bench's rows are left behind). Sends
--n requests for each address, interleaved (known, unknown, known, ...) after a warm-up, and
prints the median, p10 and p90 of each in milliseconds, and the medians' difference. A figure,
not a test: a shared machine's noise is of the order of the difference being looked for.
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from sqlmodel import SQLModel

import app.models  # noqa: F401  (every table in the metadata)
from app.core.config import Settings
from app.main import create_app

KNOWN = "known.bench@example.org"
UNKNOWN = "unknown.bench@example.org"


async def timed(client: httpx.AsyncClient, email: str) -> float:
    started = time.perf_counter()
    r = await client.post("/v1/auth/password-reset", json={"email": email})
    elapsed = (time.perf_counter() - started) * 1000
    assert r.status_code == 202, r.text
    return elapsed


def describe(name: str, samples: list[float]) -> str:
    deciles = statistics.quantiles(samples, n=10)
    median = statistics.median(samples)
    return f"{name:<13} median {median:6.2f} ms   p10 {deciles[0]:6.2f}   p90 {deciles[-1]:6.2f}"


async def main(db: str, n: int) -> None:
    settings = Settings(
        database_url=db,
        environment="test",
        migrate_on_startup=False,
        rate_limit_anonymous="1000000/minute",
        rate_limit_auth_failures="1000000/minute",
        rate_limit_reset_mail="1000000/minute",
    )
    application = create_app(settings)
    async with application.state.engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        body = {"email": KNOWN, "password": "a bench passphrase", "display_name": "Bench Example"}
        created = await client.post("/v1/members", json=body)
        assert created.status_code in (201, 409), created.text
        for _ in range(10):  # warm-up: imports, templates, connection pool
            await timed(client, KNOWN)
            await timed(client, UNKNOWN)
        known: list[float] = []
        unknown: list[float] = []
        for _ in range(n):
            known.append(await timed(client, KNOWN))
            unknown.append(await timed(client, UNKNOWN))
    await application.state.engine.dispose()
    print(f"POST /v1/auth/password-reset, {n} requests each, interleaved, on {db.split(':', 1)[0]}")
    print(describe("registered", known))
    print(describe("unregistered", unknown))
    print(f"difference of medians: {statistics.median(known) - statistics.median(unknown):+.2f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--n", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.db or f"sqlite+aiosqlite:///{Path(folder) / 'reset-bench.db'}"
        asyncio.run(main(url, args.n))
