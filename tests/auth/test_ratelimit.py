"""Rate limits per caller: 429 problems with Retry-After and RateLimit headers, shared through Redis."""

import asyncio
import os
import socket
import uuid

import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from tests.conftest import make_settings
from tests.factories import PASSWORD, assert_problem, member
from tests.safety.moderation import admin

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://test"
    )


async def _app(database_url: str, application: FastAPI, **limits: str) -> FastAPI:
    app = create_app(make_settings(database_url, **limits))
    # Share the test's database (in-memory SQLite lives in one engine).
    app.state.engine, app.state.sessionmaker = application.state.engine, application.state.sessionmaker
    return app


async def test_the_request_after_the_budget_is_429_with_headers(
    database_url: str, application: FastAPI
) -> None:
    app = await _app(database_url, application, rate_limit_anonymous="3/minute")
    async with _client(app) as c:
        ok = [await c.get("/v1/needs") for _ in range(3)]
        assert [r.status_code for r in ok] == [200, 200, 200]
        assert [r.headers["ratelimit-remaining"] for r in ok] == ["2", "1", "0"]
        assert ok[0].headers["ratelimit-limit"] == "3"
        over = await c.get("/v1/needs")
        body = assert_problem(over, 429)
        assert 1 <= int(over.headers["retry-after"]) <= 60
        assert over.headers["ratelimit-remaining"] == "0"
        assert body["type"].endswith("/rate-limited")
        # Probes are never limited.
        assert (await c.get("/healthz")).status_code == 200


async def test_each_member_has_their_own_budget(
    database_url: str, application: FastAPI, client: httpx.AsyncClient
) -> None:
    a, b = await member(client), await member(client)
    app = await _app(database_url, application, rate_limit_member="2/minute")
    async with _client(app) as c:
        assert [(await c.get("/v1/members/me", headers=a.headers)).status_code for _ in range(3)] == [
            200,
            200,
            429,
        ]
        assert (await c.get("/v1/members/me", headers=b.headers)).status_code == 200


async def test_failed_logins_and_bad_credentials_are_limited_harder(
    database_url: str, application: FastAPI, client: httpx.AsyncClient
) -> None:
    m = await member(client, email="target@example.org")
    app = await _app(database_url, application, rate_limit_auth_failures="3/minute")
    async with _client(app) as c:
        bad = {"username": "target@example.org", "password": "guess-guess"}
        codes = [(await c.post("/v1/auth/token", data=bad)).status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]
        # The address is now blocked even with the right password, and for bad keys too.
        good = {"username": "target@example.org", "password": "correct horse battery"}
        assert_problem(await c.post("/v1/auth/token", data=good), 429)
        assert_problem(await c.get("/v1/needs", headers={"Authorization": "Bearer ma_not_a_key"}), 429)
        # Valid credentials from the same address (a library, a shelter) keep working.
        assert (await c.get("/v1/members/me", headers=m.headers)).status_code == 200


async def test_a_suspended_members_right_credentials_spend_no_one_elses_budget(
    database_url: str, application: FastAPI, client: httpx.AsyncClient
) -> None:
    """A suspended member's app retrying its login or refresh from a shared address is told 401
    each time, and the address's failed-login budget is left for everyone else there."""
    boss = await admin(client, application)
    suspended, neighbour = await member(client), await member(client)
    good = {"username": suspended.data["email"], "password": PASSWORD}
    refresh = (await client.post("/v1/auth/token", data=good)).json()["refresh_token"]
    r = await client.post(
        f"/v1/admin/members/{suspended.id}/suspend", json={"reason": "Spam."}, headers=boss.headers
    )
    assert r.status_code == 200, r.text
    app = await _app(database_url, application, rate_limit_auth_failures="3/minute")
    async with _client(app) as c:
        for _ in range(3):
            assert "suspended" in assert_problem(await c.post("/v1/auth/token", data=good), 401)["detail"]
            r = await c.post("/v1/auth/refresh", json={"refresh_token": refresh})
            assert "suspended" in assert_problem(r, 401)["detail"]
        theirs = {"username": neighbour.data["email"], "password": PASSWORD}
        assert (await c.post("/v1/auth/token", data=theirs)).status_code == 200


def _redis_up() -> bool:
    host, port = REDIS_URL.split("//")[1].split("/")[0].split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
        return True
    except OSError:
        return False


async def test_two_instances_share_one_budget_through_redis(database_url: str, application: FastAPI) -> None:
    if not _redis_up():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs Redis at {REDIS_URL}")
        pytest.skip(f"no Redis at {REDIS_URL}")
    limits = {
        "redis_url": REDIS_URL,
        "rate_limit_prefix": f"test-{uuid.uuid4().hex}",
        "rate_limit_anonymous": "4/minute",
    }
    first, second = (
        await _app(database_url, application, **limits),
        await _app(database_url, application, **limits),
    )
    async with _client(first) as one, _client(second) as two:
        codes = [(await (one if i % 2 else two).get("/v1/needs")).status_code for i in range(5)]
    assert codes == [200, 200, 200, 200, 429]


async def test_shutting_down_leaves_no_expiry_task_behind(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    # A task left pending would run after the loop's executor is gone and fail at exit.
    await client.get("/v1/needs")
    storage = application.state.rate_limiter.storage
    storage.timer = asyncio.ensure_future(asyncio.sleep(60))  # an expiry still in progress
    async with application.router.lifespan_context(application):
        pass
    assert storage.timer.cancelled()


async def test_in_memory_limits_never_hand_off_to_a_thread_and_sweep_what_expired(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from limits import RateLimitItemPerMinute
    from limits.aio.strategies import MovingWindowRateLimiter

    from app.auth.ratelimit import SweptMemoryStorage

    async def no_thread(*_args: object, **_kw: object) -> None:
        raise AssertionError("a rate limit hit went to a worker thread")

    monkeypatch.setattr(asyncio, "to_thread", no_thread)
    storage = SweptMemoryStorage()
    limiter = MovingWindowRateLimiter(storage)
    item = RateLimitItemPerMinute(3)
    assert [await limiter.hit(item, "someone") for _ in range(4)] == [True, True, True, False]
    await asyncio.sleep(0)  # a sweep task, had one been scheduled, would run now
    key = item.key_for("someone")
    assert len(storage.events[key]) == 3
    for entry in storage.events[key]:
        entry.expiry = 0  # as if the minute had passed
    storage.sweep()
    assert key not in storage.events
    assert await limiter.hit(item, "someone")
