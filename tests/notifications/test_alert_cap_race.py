"""The alert caps under concurrency, on Postgres: needs alerting one volunteer at once never take
more than the daily cap between them (the conditional upsert decides, not a read), nor more than
one alert per need and a source's share per day (read under the allowance row's lock)."""

import asyncio
import uuid
from datetime import UTC, date, datetime, time, timedelta

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import col

from app.core.timeutil import utcnow
from app.dispatch.alerts import alert_nearby
from app.main import create_app
from app.needs.models import Need
from app.notifications import service as notifications
from tests.conftest import make_settings
from tests.factories import Member, member, need_body, offer_body, organization

pytestmark = pytest.mark.postgres
CAP, RACERS = 3, 10


async def _opted_in_volunteer(client: httpx.AsyncClient, here: dict[str, float]) -> Member:
    volunteer = await member(client)
    offer = offer_body(location=here, availability=[])
    r = await client.post("/v1/offers", json=offer, headers=volunteer.headers)
    assert r.status_code == 201, r.text
    body = {"alerts": {"enabled": True}}
    r = await client.put("/v1/members/me/notification-settings", json=body, headers=volunteer.headers)
    assert r.status_code == 200, r.text
    return volunteer


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


async def test_racing_fan_outs_tell_a_volunteer_of_a_need_once_and_of_a_source_up_to_its_share(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """Fan-outs at once, as several processes send them: of one need (made public again and
    again), one alert; of one source's needs, exactly its share. `need_alerts` is read under the
    allowance row's lock, so the database orders them."""
    here = {"lat": 51.5, "lon": -0.12}
    volunteer = await _opted_in_volunteer(client, here)
    # Made organisation-only first, so creating them alerts nobody: the racers do.
    coordinator = await member(client)
    org = (await organization(client, coordinator))["id"]
    ids = []
    for _ in range(RACERS):
        body = need_body(location=here, organization_id=org, visibility="organization")
        r = await client.post("/v1/needs", json=body, headers=coordinator.headers)
        assert r.status_code == 201, r.text
        ids.append(uuid.UUID(r.json()["id"]))
    app = create_app(make_settings(database_url, db_pool_size=RACERS))
    try:
        async with app.state.sessionmaker() as session:
            await session.exec(update(Need).where(col(Need.id).in_(ids)).values(visibility="public"))
            await session.commit()
        for needs in ([ids[0]] * RACERS, ids):
            start = asyncio.Event()

            async def fan_out(need_id: uuid.UUID, start: asyncio.Event) -> bool:
                async with app.state.sessionmaker() as session:
                    need = await session.get(Need, need_id)
                    assert need is not None
                    await start.wait()
                    told = await alert_nearby(session, need=need, actor=None, per_day=100, per_source=CAP)
                    await asyncio.sleep(0.05)  # hold the rows while the others queue on them
                    await session.commit()
                    return uuid.UUID(volunteer.id) in told

            racers = [asyncio.create_task(fan_out(n, start)) for n in needs]
            await asyncio.sleep(0.1)
            start.set()
            told = await asyncio.gather(*racers)
            # The same need: once. The source's needs: CAP, less the one already told that day.
            assert told.count(True) == (1 if len(set(needs)) == 1 else CAP - 1)
    finally:
        await app.state.engine.dispose()


async def test_fan_outs_of_one_need_either_side_of_midnight_tell_a_volunteer_once(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """Their allowance rows are two days' rows, so they do not wait on each other there; the
    need_alerts primary key (need, volunteer) still lets only one of them tell the volunteer."""
    here = {"lat": 51.5, "lon": -0.12}
    volunteer, coordinator = await _opted_in_volunteer(client, here), await member(client)
    org = (await organization(client, coordinator))["id"]
    body = need_body(location=here, organization_id=org, visibility="organization")
    r = await client.post("/v1/needs", json=body, headers=coordinator.headers)
    assert r.status_code == 201, r.text
    need_id = uuid.UUID(r.json()["id"])
    app = create_app(make_settings(database_url, db_pool_size=4))
    try:
        async with app.state.sessionmaker() as session:
            await session.exec(update(Need).where(col(Need.id) == need_id).values(visibility="public"))
            await session.commit()
        start = asyncio.Event()
        midnight = datetime.combine(utcnow().date() + timedelta(days=1), time(0), tzinfo=UTC)

        async def fan_out(now: datetime) -> bool:
            async with app.state.sessionmaker() as session:
                need = await session.get(Need, need_id)
                assert need is not None
                await start.wait()
                told = await alert_nearby(
                    session, need=need, actor=None, per_day=100, per_source=100, now=now
                )
                await asyncio.sleep(0.05)
                await session.commit()
                return uuid.UUID(volunteer.id) in told

        racers = [asyncio.create_task(fan_out(midnight + timedelta(seconds=s))) for s in (-1, 1)]
        await asyncio.sleep(0.1)
        start.set()
        assert sorted(await asyncio.gather(*racers)) == [False, True]
    finally:
        await app.state.engine.dispose()
    items = (await client.get("/v1/notifications", headers=volunteer.headers)).json()["items"]
    assert [n["data"]["need_id"] for n in items if n["type"] == "need.nearby"] == [str(need_id)]
