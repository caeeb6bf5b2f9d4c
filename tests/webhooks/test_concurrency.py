"""Several workers on Postgres: a claim skips rows another worker holds, and no delivery is
sent twice in one round."""

import asyncio
from collections import Counter
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from app.webhooks import service as webhooks
from app.webhooks.models import EventType
from tests.factories import ALL_SCOPES, api_key, member, need_body
from tests.webhooks.support import Receiver, deliveries, one_pass, org_with_webhook, worker_settings

pytestmark = pytest.mark.postgres


async def _queue(client: httpx.AsyncClient, receiver: Receiver, n: int) -> None:
    """n needs for an organisation with one endpoint: n due deliveries."""
    coordinator = await member(client)
    org, _ = await org_with_webhook(client, coordinator, receiver.url, ["need.created"])
    key = await api_key(client, coordinator, org, ALL_SCOPES)
    r = await client.post(
        "/v1/needs/batch", json={"items": [need_body() for _ in range(n)]}, headers=key["headers"]
    )
    assert [x["status"] for x in r.json()["results"]] == [201] * n


async def test_a_claim_skips_rows_another_worker_holds(
    hook_app: FastAPI, hook_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await _queue(hook_client, receiver, 20)
    async with hook_app.state.engine.connect() as held:
        await held.begin()
        # Another worker in the middle of its claim: ten rows locked, its transaction open.
        locked = {
            str(row[0])
            for row in await held.execute(
                text("SELECT id FROM webhook_deliveries ORDER BY next_attempt_at, id LIMIT 10 FOR UPDATE")
            )
        }
        settings = worker_settings(hook_app, webhook_batch_size=20)
        # Waiting on those locks would hang here; skipping them takes the other ten at once.
        assert await asyncio.wait_for(one_pass(hook_app, settings=settings), timeout=10) == 10
        await held.rollback()
    sent = {r.headers["webhook-id"] for r in receiver.requests}
    rows = await deliveries(hook_app)
    delivered = {str(d.id) for d in rows if d.status == "delivered"}
    assert len(delivered) == 10
    assert delivered.isdisjoint(locked)
    assert sent == {str(d.event_id) for d in rows if d.status == "delivered"}


async def test_concurrent_passes_never_send_a_delivery_twice(
    hook_app: FastAPI, hook_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    settings = worker_settings(hook_app, webhook_batch_size=10)
    for round_ in range(4):
        await _queue(hook_client, receiver, 30)
        before = len(receiver.requests)
        done = await asyncio.gather(*[one_pass(hook_app, settings=settings) for _ in range(3)])
        assert done == [10, 10, 10], round_
        this_round = Counter(r.headers["webhook-id"] for r in receiver.requests[before:])
        assert len(this_round) == 30
        assert set(this_round.values()) == {1}
    rows = await deliveries(hook_app)
    assert [(d.status, d.attempts) for d in rows] == [("delivered", 1)] * 120


async def test_deleting_an_endpoint_mid_change_never_fails_the_change(
    hook_app: FastAPI, hook_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    """A need written while its organisation deletes the only endpoint: the delete waits for
    the write, the write commits, and the endpoint and its delivery go together."""
    coordinator = await member(hook_client)
    org, hook = await org_with_webhook(hook_client, coordinator, receiver.url, ["need.created"])
    created = await hook_client.post(
        "/v1/needs", json=need_body(organization_id=org), headers=coordinator.headers
    )
    need_id = created.json()["id"]
    async with hook_app.state.sessionmaker() as session:
        # The change's transaction has read the subscribers and not yet committed...
        await webhooks.emit(
            session,
            [
                webhooks.need_event(
                    EventType.need_updated, organization_id=UUID(org), need_id=UUID(need_id), status="open"
                )
            ],
        )
        deleting = asyncio.create_task(
            hook_client.delete(f"/v1/organizations/{org}/webhooks/{hook['id']}", headers=coordinator.headers)
        )
        await asyncio.sleep(0.5)
        assert not deleting.done(), "the delete must wait for the change that read the endpoint"
        await session.commit()
    assert (await asyncio.wait_for(deleting, timeout=10)).status_code == 204
    assert await deliveries(hook_app) == []
    listed = await hook_client.get(f"/v1/organizations/{org}/webhooks", headers=coordinator.headers)
    assert listed.json() == []
