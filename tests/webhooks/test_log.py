"""The delivery log: newest first in pages, each attempt's outcome, for the organisation only."""

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import col

from app.core.timeutil import utcnow
from app.webhooks.models import WebhookDelivery, WebhookEvent
from app.webhooks.worker import purge_finished
from tests.factories import api_key, assert_problem, join, member, need_body
from tests.webhooks.support import Receiver, Reply, deliveries, drain, events, one_pass, org_with_webhook

DELIVERY_KEYS = {
    "id",
    "event_id",
    "event_type",
    "status",
    "attempts",
    "last_status_code",
    "last_error",
    "next_attempt_at",
    "delivered_at",
    "created_at",
    "attempt_log",
}


async def test_the_log_pages_newest_first_and_filters_by_status(
    hook_app: FastAPI, hook_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.plan = lambda n: Reply(500) if n == 0 else Reply(202)
    coordinator = await member(hook_client)
    org, hook = await org_with_webhook(hook_client, coordinator, receiver.url, ["need.created"])
    for _ in range(5):
        body = need_body(organization_id=org)
        assert (
            await hook_client.post("/v1/needs", json=body, headers=coordinator.headers)
        ).status_code == 201
    path = f"/v1/organizations/{org}/webhooks/{hook['id']}/deliveries"

    pending = (await hook_client.get(path, headers=coordinator.headers)).json()
    assert [i["status"] for i in pending["items"]] == ["pending"] * 5
    first = pending["items"][0]
    assert set(first) == DELIVERY_KEYS
    assert (first["event_type"], first["attempts"], first["attempt_log"]) == ("need.created", 0, [])
    assert (first["last_status_code"], first["last_error"], first["delivered_at"]) == (None, None, None)
    assert first["next_attempt_at"] is not None
    assert (await hook_client.get(f"{path}?status=delivered", headers=coordinator.headers)).json() == {
        "items": [],
        "next_cursor": None,
    }

    await drain(hook_app)
    pages, cursor = [], None
    while True:
        query = f"{path}?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await hook_client.get(query, headers=coordinator.headers)).json()
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    listed = [i for p in pages for i in p]
    rows = sorted(await deliveries(hook_app), key=lambda d: (d.created_at, d.id), reverse=True)
    assert [i["id"] for i in listed] == [str(d.id) for d in rows]
    assert [i["event_id"] for i in listed] == [str(d.event_id) for d in rows]
    assert {i["status"] for i in listed} == {"delivered"}
    assert sorted(i["attempts"] for i in listed) == [1, 1, 1, 1, 2]
    retried = next(i for i in listed if i["attempts"] == 2)
    assert [(a["status_code"], a["error"]) for a in retried["attempt_log"]] == [
        (500, "The receiver answered 500."),
        (202, None),
    ]
    assert retried["delivered_at"] == retried["attempt_log"][1]["at"].replace("+00:00", "Z")
    failed = await hook_client.get(f"{path}?status=failed", headers=coordinator.headers)
    assert failed.json()["items"] == []
    assert_problem(await hook_client.get(f"{path}?status=lost", headers=coordinator.headers), 422)
    assert_problem(await hook_client.get(f"{path}?cursor=garbage", headers=coordinator.headers), 422)
    assert_problem(await hook_client.get(f"{path}?limit=101", headers=coordinator.headers), 422)


async def test_only_the_organisation_reads_its_log(
    hook_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    coordinator, volunteer, stranger = (
        await member(hook_client),
        await member(hook_client),
        await member(hook_client),
    )
    org, hook = await org_with_webhook(hook_client, coordinator, receiver.url, ["need.created"])
    await join(hook_client, coordinator, org, volunteer)
    path = f"/v1/organizations/{org}/webhooks/{hook['id']}/deliveries"
    manager = await api_key(hook_client, coordinator, org, ["webhooks:manage"])
    reader = await api_key(hook_client, coordinator, org, ["needs:read", "matches:read"])
    assert (await hook_client.get(path, headers=manager["headers"])).status_code == 200
    assert_problem(await hook_client.get(path, headers=reader["headers"]), 403)
    assert_problem(await hook_client.get(path, headers=volunteer.headers), 404)
    assert_problem(await hook_client.get(path, headers=stranger.headers), 404)
    assert_problem(await hook_client.get(path), 401)


async def test_retention_forgets_ended_deliveries_and_their_events_but_never_pending_ones(
    hook_app: FastAPI, hook_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.plan = lambda n: Reply(204) if n < 2 else Reply(500)
    coordinator = await member(hook_client)
    org, _ = await org_with_webhook(hook_client, coordinator, receiver.url, ["need.created"])
    for _ in range(3):
        body = need_body(organization_id=org)
        assert (
            await hook_client.post("/v1/needs", json=body, headers=coordinator.headers)
        ).status_code == 201
    await one_pass(hook_app)  # two delivered, one pending again after a 500
    rows = await deliveries(hook_app)
    assert sorted(d.status for d in rows) == ["delivered", "delivered", "pending"]
    kept_delivered = next(d for d in rows if d.status == "delivered")
    old, now = utcnow() - timedelta(days=31), utcnow()
    async with hook_app.state.sessionmaker() as session:
        # Everything but one delivered row last moved 31 days ago.
        await session.exec(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.id) != kept_delivered.id)
            .values(updated_at=old, created_at=old)
        )
        await session.exec(update(WebhookEvent).values(created_at=old))
        await session.commit()
    cutoff = now - timedelta(days=30)
    assert await purge_finished(hook_app.state.sessionmaker, older_than=cutoff) == (1, 1)
    left = await deliveries(hook_app)
    assert sorted((d.status, d.id == kept_delivered.id) for d in left) == [
        ("delivered", True),
        ("pending", False),
    ]
    assert {e.id for e in await events(hook_app)} == {d.event_id for d in left}
    assert await purge_finished(hook_app.state.sessionmaker, older_than=cutoff) == (0, 0)
