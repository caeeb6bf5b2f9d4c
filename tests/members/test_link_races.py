"""A mailed link followed while its account is being erased: one of them wins, neither is a
5xx. Following a link spends its token and then writes the member; an erasure writes the
member and then deletes their tokens. The link now locks the member's row first, as the
erasure does; in the other order they deadlocked, a 503 (3 rounds in 10 here)."""

import asyncio
import uuid

import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from app.members.accounts import TokenPurpose
from app.members.recovery import _mint
from tests.conftest import make_settings
from tests.factories import PASSWORD, member

pytestmark = pytest.mark.postgres
ROUNDS = 6


async def test_links_followed_while_the_account_is_erased_answer(
    client: httpx.AsyncClient, application: FastAPI, database_url: str
) -> None:
    app: FastAPI = create_app(make_settings(database_url, db_pool_size=5))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        for _ in range(ROUNDS):
            leaving, other = await member(client), await member(client)
            new_address = f"moving.{uuid.uuid4().hex[:8]}@example.org"
            # Links as a change of address mails them (minted here: the mailbox is not the point).
            async with application.state.sessionmaker() as session:
                links = [
                    await _mint(
                        session,
                        member_id=uuid.UUID(who.id),
                        purpose=TokenPurpose.change_email,
                        email=new_address,
                        ttl=3600,
                    )
                    for who in (leaving, other)
                ]
                await session.commit()
            answers = await asyncio.gather(
                c.post("/v1/auth/verify-email", json={"token": links[0]}),
                c.post("/v1/auth/verify-email", json={"token": links[1]}),
                c.post("/v1/auth/verify-email", json={"token": links[0]}),
                c.request("DELETE", "/v1/members/me", json={"password": PASSWORD}, headers=leaving.headers),
            )
            assert all(r.status_code < 500 for r in answers), [r.text for r in answers]
            assert answers[3].status_code == 204
    await app.state.engine.dispose()
