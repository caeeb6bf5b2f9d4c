"""A block racing claims, on Postgres: no match between the two survives the block."""

import asyncio
import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import col, func, select

from app.main import create_app
from app.matches.models import ACTIVE, Match
from tests.conftest import make_settings
from tests.factories import member, need_body, offer_body

HERE = {"lat": 51.5, "lon": -0.12}
pytestmark = pytest.mark.postgres


async def _active_between(app: FastAPI, requester: str, volunteer: str) -> int:
    async with app.state.sessionmaker() as session:
        stmt = select(func.count()).where(
            col(Match.requester_id) == uuid.UUID(requester),
            col(Match.volunteer_id) == uuid.UUID(volunteer),
            col(Match.status).in_(ACTIVE),
        )
        return int((await session.exec(stmt)).one())


async def test_a_block_racing_claims_leaves_no_match_between_them(
    client: httpx.AsyncClient, database_url: str
) -> None:
    requester, volunteer = await member(client), await member(client)
    body = offer_body(location=HERE, availability=[], capacity=50)
    offer = (await client.post("/v1/offers", json=body, headers=volunteer.headers)).json()["id"]
    # A connection per request in flight: the database, not a pool queue, orders them.
    app = create_app(make_settings(database_url, db_pool_size=12))
    made = 0

    async def block_after(delay: float) -> httpx.Response:
        await asyncio.sleep(delay)
        return await wide.put(f"/v1/members/me/blocks/{volunteer.id}", headers=requester.headers)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as wide:
        for round_ in range(15):
            needs = [
                (
                    await client.post("/v1/needs", json=need_body(location=HERE), headers=requester.headers)
                ).json()
                for _ in range(8)
            ]
            claims = [
                wide.post(
                    "/v1/matches", json={"need_id": n["id"], "offer_id": offer}, headers=volunteer.headers
                )
                for n in needs
            ]
            # Every other round the block sets off a moment later, so claims win some races
            # whatever the machine's load: the block then has matches to end.
            blocked = block_after(0.0 if round_ % 2 == 0 else 0.05)
            answers = await asyncio.gather(*claims[:4], blocked, *claims[4:])
            assert answers[4].status_code == 204, answers[4].text
            codes = [r.status_code for i, r in enumerate(answers) if i != 4]
            assert set(codes) <= {201, 404}, codes
            made += codes.count(201)
            assert await _active_between(app, requester.id, volunteer.id) == 0
            r = await client.delete(f"/v1/members/me/blocks/{volunteer.id}", headers=requester.headers)
            assert r.status_code == 204
    await app.state.engine.dispose()
    assert made, "no claim ever won the race: the block never had a match to end"
