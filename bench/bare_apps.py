"""The baselines of `bench.overhead`, served by uvicorn beside the service.

`bare`: FastAPI with nothing but the service's `/healthz` (same route, same response model),
no middleware, no logging, no metrics. `raw`: FastAPI and an async psycopg connection pool
reading one need's public columns by id, as a hand-written app would (one statement, the
columns the public view shows, a dict to JSON). Neither imports `app`: a worker of these stays
what it claims to be.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import FastAPI, HTTPException
from psycopg.rows import dict_row
from pydantic import BaseModel


class Health(BaseModel):
    status: str


bare = FastAPI()


@bare.get("/healthz", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok")


PUBLIC_COLUMNS = (
    "id, category, title, description, urgency, mode, approx_lat, approx_lon, volunteers_needed,"
    " max_distance_km, window_start, window_end, timezone, recurrence_rule, recurrence_until,"
    " languages, requirements, visibility, approval, organization_id, status, created_at"
)
READ = f"SELECT {PUBLIC_COLUMNS} FROM needs WHERE id = %s"


class Pool:
    """A fixed set of connections handed out through a queue (psycopg_pool's job, in 20 lines)."""

    def __init__(self) -> None:
        self.idle: asyncio.Queue[psycopg.AsyncConnection[dict[str, Any]]] = asyncio.Queue()

    async def open(self, url: str, size: int) -> None:
        for _ in range(size):
            conn = await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)
            self.idle.put_nowait(conn)

    async def close(self) -> None:
        while not self.idle.empty():
            await self.idle.get_nowait().close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[dict[str, Any]]]:
        conn = await self.idle.get()
        try:
            yield conn
        finally:
            self.idle.put_nowait(conn)


pool = Pool()


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    url = os.environ["RAW_DATABASE_URL"]
    await pool.open(url, int(os.environ.get("DB_POOL_SIZE", "10")))
    yield
    await pool.close()


raw = FastAPI(lifespan=_lifespan)


@raw.get("/v1/needs/{need_id}")
async def read_need(need_id: uuid.UUID) -> dict[str, Any]:
    async with pool.connection() as conn:
        row = await (await conn.execute(READ, (need_id,))).fetchone()
    if row is None:
        raise HTTPException(404)
    return _public(row)


def _public(row: dict[str, Any]) -> dict[str, Any]:
    lat, lon, rule = row.pop("approx_lat"), row.pop("approx_lon"), row.pop("recurrence_rule")
    row["approx_location"] = {"lat": lat, "lon": lon} if lat is not None else None
    row["recurrence"] = {"rule": rule, "until": row.pop("recurrence_until")} if rule else None
    row.pop("recurrence_until", None)
    row["view"] = "public"
    return row


@raw.get("/in-transaction/v1/needs/{need_id}")
async def read_need_in_transaction(need_id: uuid.UUID) -> dict[str, Any]:
    """The same read inside BEGIN ... COMMIT, the shape of the service's request transaction."""
    async with pool.connection() as conn, conn.transaction():
        row = await (await conn.execute(READ, (need_id,))).fetchone()
    if row is None:
        raise HTTPException(404)
    return _public(row)
