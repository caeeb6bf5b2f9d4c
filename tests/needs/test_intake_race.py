"""Batches at once naming the same external ids, in the same order or not: every item ends
created exactly once, and nothing is a 5xx (no deadlock on the unique index either)."""

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


async def test_batches_naming_the_same_ids_in_other_orders_do_not_deadlock(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """Inserted in request order, two batches with the same ids reversed each took one id's
    unique-index entry and waited for the other's: a deadlock, a 503 (3 rounds in 10 here)."""
    coordinator = await member(client)
    org = (await organization(client, coordinator))["id"]
    key = await api_key(client, coordinator, org, ALL_SCOPES)
    app: FastAPI = create_app(make_settings(database_url, db_pool_size=8))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        for round_ in range(6):
            items = [need_body(organization_id=org, external_id=f"o{round_}-{i}") for i in range(5)]
            answers = await asyncio.gather(
                *[
                    c.post(
                        "/v1/needs/batch",
                        json={"items": items if k % 2 else items[::-1]},
                        headers=key["headers"] if k % 2 else coordinator.headers,
                    )
                    for k in range(8)
                ]
            )
            assert [r.status_code for r in answers] == [200] * 8, [
                r.text for r in answers if r.status_code != 200
            ]
            statuses = [x["status"] for r in answers for x in r.json()["results"]]
            assert (statuses.count(201), statuses.count(409)) == (5, 35)
    await app.state.engine.dispose()
