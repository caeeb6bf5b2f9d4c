"""Two identical batches at once: every item ends created exactly once, and nothing is a 500."""

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from tests.conftest import make_settings
from tests.factories import ALL_SCOPES, api_key, member, need_body, organization

pytestmark = pytest.mark.postgres


async def test_racing_batches_settle_each_external_id_once(
    client: httpx.AsyncClient, database_url: str
) -> None:
    coordinator = await member(client)
    org = (await organization(client, coordinator))["id"]
    key = await api_key(client, coordinator, org, ALL_SCOPES)
    app: FastAPI = create_app(make_settings(database_url))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        for round_ in range(5):
            items = [need_body(external_id=f"r{round_}-{i}") for i in range(30)]
            first, second = await asyncio.gather(
                *[c.post("/v1/needs/batch", json={"items": items}, headers=key["headers"]) for _ in range(2)]
            )
            assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
            for a, b in zip(first.json()["results"], second.json()["results"], strict=True):
                assert sorted((a["status"], b["status"])) == [201, 409]
                assert a["id"] == b["id"]
    await app.state.engine.dispose()
