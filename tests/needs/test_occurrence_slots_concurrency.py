"""Per-occurrence slots under concurrency, on Postgres: claims on two dates and on the whole series
of a two-slot need, all at once, never put more than two volunteers on any date, and fill each."""

import asyncio
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest
from sqlmodel import col, func, select

from app.main import create_app
from app.matches.models import Match, MatchStatus
from tests.conftest import make_settings
from tests.factories import member, need_body, offer_body, organization, weekly_series

HERE = {"lat": 51.5, "lon": -0.12}
pytestmark = pytest.mark.postgres
ROUNDS, PER_DATE, SERIES = 5, 10, 6


def z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def test_claims_on_dates_and_the_series_at_once(client: httpx.AsyncClient, database_url: str) -> None:
    coordinator = await member(client)
    org = (await organization(client, coordinator))["id"]
    volunteers = []
    for _ in range(2 * PER_DATE + SERIES):
        v = await member(client)
        body = offer_body(location=HERE, availability=[], capacity=ROUNDS)
        volunteers.append((v, (await client.post("/v1/offers", json=body, headers=v.headers)).json()["id"]))
    # A connection per claim in flight: the database, not a pool queue, orders them.
    app = create_app(make_settings(database_url, db_pool_size=2 * PER_DATE + SERIES))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as wide:
        for _ in range(ROUNDS):
            body = need_body(
                location=HERE,
                organization_id=org,
                approval="automatic",
                volunteers_needed=2,
                **weekly_series(),
            )
            need = (await client.post("/v1/needs", json=body, headers=coordinator.headers)).json()
            items = (await client.get(f"/v1/needs/{need['id']}/occurrences")).json()["items"]
            dates = [items[0]["start"]] * PER_DATE + [items[1]["start"]] * PER_DATE + [None] * SERIES
            claims = await asyncio.gather(
                *[
                    wide.post(
                        "/v1/matches",
                        json={"need_id": need["id"], "offer_id": offer_id}
                        | ({"occurrence_start": date} if date else {}),
                        headers=v.headers,
                    )
                    for (v, offer_id), date in zip(volunteers, dates, strict=True)
                ]
            )
            assert set(Counter(r.status_code for r in claims)) <= {201, 409}
            assert all("deadlock" not in r.text.lower() for r in claims)
            async with app.state.sessionmaker() as session:
                rows = await session.exec(
                    select(Match.occurrence_start, func.count())
                    .where(col(Match.need_id) == need["id"], col(Match.status) == MatchStatus.accepted)
                    .group_by(col(Match.occurrence_start))
                )
                held = {(z(start) if start else None): n for start, n in rows.all()}
            series = held.get(None, 0)
            # Never more than two on a date, and every date full: a claim lost only to a full date.
            assert series + held.get(items[0]["start"], 0) == 2, held
            assert series + held.get(items[1]["start"], 0) == 2, held
            assert sum(r.status_code == 201 for r in claims) == sum(held.values())
    await app.state.engine.dispose()
