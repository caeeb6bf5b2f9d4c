"""The daily alert cap under concurrency, on Postgres: needs alerting one volunteer at once never
take more than the cap between them (the conditional upsert decides, not a read)."""

import asyncio
import uuid
from datetime import date

import httpx
import pytest

from app.main import create_app
from app.notifications import service as notifications
from tests.conftest import make_settings
from tests.factories import member

pytestmark = pytest.mark.postgres
CAP, RACERS = 3, 10


async def test_racing_fan_outs_grant_exactly_the_cap(client: httpx.AsyncClient, database_url: str) -> None:
    volunteer = uuid.UUID((await member(client)).id)
    # A connection per racer: the database, not a pool queue, orders them.
    app = create_app(make_settings(database_url, db_pool_size=RACERS))
    start = asyncio.Event()

    async def fan_out() -> bool:
        async with app.state.sessionmaker() as session:
            await start.wait()
            granted = await notifications.take_alerts(
                session, members=[volunteer], day=date(2026, 11, 30), per_day=CAP
            )
            await asyncio.sleep(0.05)  # hold the row while the others queue on it
            await session.commit()
            return volunteer in granted

    racers = [asyncio.create_task(fan_out()) for _ in range(RACERS)]
    await asyncio.sleep(0.1)
    start.set()
    try:
        granted = await asyncio.gather(*racers)
    finally:
        await app.state.engine.dispose()
    assert granted.count(True) == CAP
