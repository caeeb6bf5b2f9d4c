"""The worker against a real receiver: 410 Gone, the attempts cap, backoff, timeouts, redirects,
refused targets, lapsed claims, and what its logs leave out."""

import logging
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import col

from app.core.timeutil import utcnow
from app.webhooks.delivery import Outcome
from app.webhooks.models import EndpointStatus, WebhookDelivery, WebhookEndpoint
from app.webhooks.process import quiet_http_client_logs
from app.webhooks.worker import claim, record
from tests.factories import Member, member, need_body
from tests.webhooks.support import (
    Receiver,
    Reply,
    deliveries,
    drain,
    one_pass,
    org_with_webhook,
    worker_settings,
)

REFUSED = "The host is or resolves to a non-public address; not sent."


async def _needs(client: httpx.AsyncClient, who: Member, org: str, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        r = await client.post("/v1/needs", json=need_body(organization_id=org), headers=who.headers)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


async def _make_due(app: FastAPI) -> None:
    async with app.state.sessionmaker() as session:
        await session.exec(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.status) == "pending")
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()


class FixedRandom:
    """A random source that always draws the same fraction: backoff becomes exact."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


async def test_410_gone_disables_the_endpoint_and_stops_its_deliveries(
    hook_app: FastAPI, hook_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.plan = lambda n: Reply(410)
    coordinator = await member(hook_client)
    org, hook = await org_with_webhook(hook_client, coordinator, receiver.url, ["need.created"])
    await _needs(hook_client, coordinator, org, 3)

    assert await one_pass(hook_app, settings=worker_settings(hook_app, webhook_batch_size=1)) == 1
    assert await one_pass(hook_app) == 0
    assert len(receiver.requests) == 1
    endpoint = (
        await hook_client.get(f"/v1/organizations/{org}/webhooks/{hook['id']}", headers=coordinator.headers)
    ).json()
    assert endpoint["status"] == "disabled"
    assert endpoint["disabled_reason"] == "The receiver answered 410 Gone."
    assert endpoint["disabled_at"] is not None
    rows = sorted(await deliveries(hook_app), key=lambda d: d.status)
    assert [(d.status, d.attempts, d.last_status_code, d.last_error) for d in rows] == [
        ("cancelled", 0, None, "The endpoint was disabled; not sent."),
        ("cancelled", 0, None, "The endpoint was disabled; not sent."),
        ("failed", 1, 410, "The receiver answered 410."),
    ]
    assert all(d.next_attempt_at is None for d in rows)
    # Later changes are not even queued for it.
    await _needs(hook_client, coordinator, org, 1)
    assert len(await deliveries(hook_app)) == 3


async def test_deliveries_claimed_for_an_endpoint_disabled_meanwhile_are_not_sent(
    hook_app: FastAPI, hook_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    coordinator = await member(hook_client)
    org, hook = await org_with_webhook(hook_client, coordinator, receiver.url, ["need.created"])
    await _needs(hook_client, coordinator, org, 2)
    async with hook_app.state.sessionmaker() as session:
        await session.exec(
            update(WebhookEndpoint)
            .where(col(WebhookEndpoint.id) == uuid.UUID(hook["id"]))
            .values(status=EndpointStatus.disabled)
        )
        await session.commit()
    assert await one_pass(hook_app) == 2
    assert receiver.requests == []
    assert {d.status for d in await deliveries(hook_app)} == {"cancelled"}


async def test_failures_retry_until_the_cap_then_fail(
    hook_app: FastAPI, hook_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.plan = lambda n: Reply(503)
    coordinator = await member(hook_client)
    org, _ = await org_with_webhook(hook_client, coordinator, receiver.url, ["need.created"])
    await _needs(hook_client, coordinator, org, 1)
    assert await drain(hook_app, settings=worker_settings(hook_app, webhook_max_attempts=3)) == 3
    [row] = await deliveries(hook_app)
    assert (row.status, row.attempts, row.last_status_code) == ("failed", 3, 503)
    assert row.next_attempt_at is None
    assert row.delivered_at is None
    assert [(a["status_code"], a["error"]) for a in row.attempt_log] == [
        (503, "The receiver answered 503.")
    ] * 3
    assert len(receiver.requests) == 3
    # The same message each time: receivers deduplicate on webhook-id.
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1


async def test_each_retry_waits_its_jittered_backoff(
    hook_app: FastAPI, hook_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.plan = lambda n: Reply(500)
    coordinator = await member(hook_client)
    org, _ = await org_with_webhook(hook_client, coordinator, receiver.url, ["need.created"])
    await _needs(hook_client, coordinator, org, 1)
    settings = worker_settings(hook_app, webhook_backoff_base_seconds=10.0, webhook_backoff_cap_seconds=30.0)
    waits = []
    for _ in range(3):
        assert await one_pass(hook_app, settings=settings, rng=FixedRandom(0.25)) == 1
        [row] = await deliveries(hook_app)
        assert row.next_attempt_at is not None
        waits.append(row.next_attempt_at - datetime.fromisoformat(row.attempt_log[-1]["at"]))
        await _make_due(hook_app)
    # A quarter of min(cap, 10 s x 2^(n-1)): 2.5 s, 5 s, then the 30 s cap.
    assert waits == [timedelta(seconds=2.5), timedelta(seconds=5), timedelta(seconds=7.5)]


async def test_non_public_targets_are_refused_at_delivery_after_dns(
    hook_app: FastAPI, hook_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    coordinator = await member(hook_client)
    # Subscribed while private targets were allowed; the worker does not allow them.
    org, _ = await org_with_webhook(hook_client, coordinator, receiver.url, ["need.created"])
    by_name = receiver.url.replace("127.0.0.1", "localhost")
    r = await hook_client.post(
        f"/v1/organizations/{org}/webhooks",
        json={"url": by_name, "events": ["need.created"]},
        headers=coordinator.headers,
    )
    assert r.status_code == 201
    await _needs(hook_client, coordinator, org, 1)
    strict = worker_settings(hook_app, webhook_allow_private_targets=False)
    assert await one_pass(hook_app, settings=strict) == 2
    assert receiver.requests == []
    rows = await deliveries(hook_app)
    assert [(d.status, d.attempts, d.last_status_code, d.last_error) for d in rows] == [
        ("pending", 1, None, REFUSED)
    ] * 2


def _answers(host: str, *addresses: str) -> Any:
    async def fake(name: str, port: int, **kwargs: Any) -> list[Any]:
        assert name == host
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return fake


async def test_the_request_goes_to_the_checked_address_with_the_name_in_host(
    hook_app: FastAPI, hook_client: httpx.AsyncClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name that resolves to loopback is refused when private targets are; when allowed, the
    connection goes to the address the check saw (httpx never resolves the name itself)."""
    monkeypatch.setattr(anyio, "getaddrinfo", _answers("hooks.example.test", "127.0.0.1"))
    coordinator = await member(hook_client)
    url = f"http://hooks.example.test:{receiver.port}/in"
    org, _ = await org_with_webhook(hook_client, coordinator, url, ["need.created"])
    await _needs(hook_client, coordinator, org, 1)
    strict = worker_settings(hook_app, webhook_allow_private_targets=False)
    assert await one_pass(hook_app, settings=strict) == 1
    assert receiver.requests == []
    await _make_due(hook_app)
    assert await one_pass(hook_app) == 1
    [request] = receiver.requests
    assert request.headers["Host"] == f"hooks.example.test:{receiver.port}"
    assert request.path == "/in"
    assert [d.status for d in await deliveries(hook_app)] == ["delivered"]


@pytest.mark.parametrize(
    ("reply", "wait", "error"),
    [
        (Reply(204, delay=1.0), 0.3, "No answer within 0.3 s."),
        (Reply(302, headers={"Location": "http://127.0.0.1:1/elsewhere"}), 2.0, None),
    ],
    ids=["timeout", "redirect"],
)
async def test_slow_and_redirecting_receivers_are_failed_attempts(
    hook_app: FastAPI,
    hook_client: httpx.AsyncClient,
    receiver: Receiver,
    reply: Reply,
    wait: float,
    error: str | None,
) -> None:
    receiver.plan = lambda n: reply
    coordinator = await member(hook_client)
    org, _ = await org_with_webhook(hook_client, coordinator, receiver.url, ["need.created"])
    await _needs(hook_client, coordinator, org, 1)
    assert await one_pass(hook_app, settings=worker_settings(hook_app, webhook_timeout_seconds=wait)) == 1
    [row] = await deliveries(hook_app)
    expected = error or "The receiver answered 302. Redirects are not followed."
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, expected)
    assert row.last_status_code == (None if error else 302)
    assert len(receiver.requests) == 1  # the redirect was not followed


async def test_a_closed_port_is_a_failed_attempt(hook_app: FastAPI, hook_client: httpx.AsyncClient) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    coordinator = await member(hook_client)
    org, _ = await org_with_webhook(hook_client, coordinator, f"http://127.0.0.1:{port}/x", ["need.created"])
    await _needs(hook_client, coordinator, org, 1)
    assert await one_pass(hook_app) == 1
    [row] = await deliveries(hook_app)
    assert (row.status, row.last_status_code, row.last_error) == (
        "pending",
        None,
        "Could not connect to the receiver.",
    )


async def test_a_lapsed_claim_records_nothing(
    hook_app: FastAPI, hook_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    coordinator = await member(hook_client)
    org, _ = await org_with_webhook(hook_client, coordinator, receiver.url, ["need.created"])
    await _needs(hook_client, coordinator, org, 1)
    settings = hook_app.state.settings
    [mine] = await claim(hook_app.state.sessionmaker, settings, utcnow())
    # Its lease ran out and another worker claimed the row.
    async with hook_app.state.sessionmaker() as session:
        await session.exec(update(WebhookDelivery).values(claim_token=uuid.uuid4()))
        await session.commit()
    outcome = Outcome(status_code=204, error=None, duration_ms=3.0)
    assert await record(hook_app.state.sessionmaker, mine, outcome, settings, FixedRandom(0.5)) is False  # type: ignore[arg-type]
    [row] = await deliveries(hook_app)
    assert (row.status, row.attempts, row.attempt_log) == ("pending", 0, [])


async def test_a_claim_leases_its_rows(
    hook_app: FastAPI, hook_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    coordinator = await member(hook_client)
    org, _ = await org_with_webhook(hook_client, coordinator, receiver.url, ["need.created"])
    await _needs(hook_client, coordinator, org, 2)
    now = utcnow()
    sessions, settings = hook_app.state.sessionmaker, hook_app.state.settings
    assert len(await claim(sessions, settings, now)) == 2
    assert await claim(sessions, settings, now) == []  # nothing for a second worker
    lease = timedelta(seconds=settings.webhook_lease_seconds)
    assert {d.next_attempt_at for d in await deliveries(hook_app)} == {now + lease}
    # A worker that died holding them: they come back when the lease ends.
    assert len(await claim(sessions, settings, now + lease)) == 2


async def test_logs_name_ids_and_outcomes_never_the_secret_or_url(
    hook_app: FastAPI, hook_client: httpx.AsyncClient, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.plan = lambda n: Reply(500) if n == 0 else Reply(200)
    coordinator = await member(hook_client)
    org, hook = await org_with_webhook(hook_client, coordinator, receiver.url, ["need.created"])
    await _needs(hook_client, coordinator, org, 1)
    quiet_http_client_logs()  # as the worker command does
    try:
        with caplog.at_level(logging.INFO):
            await drain(hook_app)
    finally:
        logging.getLogger("httpx").setLevel(logging.NOTSET)
    [row] = await deliveries(hook_app)
    assert (
        f"webhook delivery {row.id} to endpoint {hook['id']}, attempt 1: The receiver answered 500."
        in caplog.text
    )
    assert f"webhook delivery {row.id} to endpoint {hook['id']}, attempt 2: delivered" in caplog.text
    assert hook["secret"] not in caplog.text
    assert hook["secret"].removeprefix("whsec_") not in caplog.text
    assert str(receiver.port) not in caplog.text
    assert "/hooks/mutual-aid" not in caplog.text
