"""A block made while a match between the two takes a step (accept, cancel, complete): both
answer, no 5xx. A block locks both members and then the pair's matches; a step locks the match
and then inserts notifications naming the members (a foreign key: a KEY SHARE lock on each
member's row). The block's member locks are FOR NO KEY UPDATE, which that does not wait for;
with FOR UPDATE the two deadlocked, and one of them was a 503 (10 rounds in 10 for accept)."""

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from tests.conftest import make_settings
from tests.factories import member
from tests.safety.moderation import accepted_match, offer, public_need

pytestmark = pytest.mark.postgres
ROUNDS = 5


@pytest.mark.parametrize("step", ["accept", "cancel", "complete"])
async def test_a_block_racing_a_match_step_answers_both(
    client: httpx.AsyncClient, database_url: str, step: str
) -> None:
    app: FastAPI = create_app(make_settings(database_url, db_pool_size=4))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        for _ in range(ROUNDS):
            requester, volunteer = await member(client), await member(client)
            if step == "complete":
                _, _, match = await accepted_match(client, requester, volunteer)
            else:  # a claim, still proposed
                need, mine = await public_need(client, requester), await offer(client, volunteer)
                body = {"need_id": need["id"], "offer_id": mine["id"]}
                r = await client.post("/v1/matches", json=body, headers=volunteer.headers)
                assert r.status_code == 201, r.text
                match = r.json()
            by = volunteer if step == "cancel" else requester
            answers = await asyncio.gather(
                c.post(f"/v1/matches/{match['id']}/{step}", headers=by.headers),
                c.put(f"/v1/members/me/blocks/{requester.id}", headers=volunteer.headers),
            )
            assert all(r.status_code < 500 for r in answers), [r.text for r in answers]
            assert answers[1].status_code == 204
            # Whichever came first, the block ends the match or finds it ended.
            r = await client.get(f"/v1/matches/{match['id']}", headers=requester.headers)
            assert r.status_code == 404 or r.json()["status"] in ("cancelled", "completed"), r.text
    await app.state.engine.dispose()
