"""Fixtures for webhooks: an app that may deliver to loopback, with tiny backoff, and a receiver."""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import app_for_test, asgi_client
from tests.webhooks.support import Receiver

# Loopback is where the test receiver listens; every other setting is as in production but faster.
HOOK_SETTINGS: dict[str, object] = {
    "webhook_allow_private_targets": True,
    "webhook_backoff_base_seconds": 0.01,
    "webhook_backoff_cap_seconds": 0.05,
    # Generous: on a loaded machine a loopback answer can take seconds, and a timed-out attempt
    # is retried, so a scenario would count one delivery too many (test_delivery tests timeouts).
    "webhook_timeout_seconds": 10.0,
    "webhook_lease_seconds": 30.0,
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
async def hook_app(database_url: str) -> AsyncIterator[FastAPI]:
    async with app_for_test(database_url, **HOOK_SETTINGS) as app:
        yield app


@pytest.fixture
async def hook_client(hook_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(hook_app) as c:
        yield c
