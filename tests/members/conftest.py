"""Fixtures for account mail: a real SMTP server, and an app whose worker sends to it."""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import app_for_test
from tests.members.mailbox import Mailbox

MAIL_SETTINGS: dict[str, object] = {
    "public_base_url": "https://app.example.org",
    "email_from": "Mutual Aid <no-reply@example.org>",
    "webhook_backoff_base_seconds": 0.01,
    "webhook_backoff_cap_seconds": 0.05,
    "smtp_timeout_seconds": 5.0,
}


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.controller.start()
    yield box
    box.controller.stop()


@pytest.fixture
async def mail_app(database_url: str, mailbox: Mailbox) -> AsyncIterator[FastAPI]:
    mailbox.messages.clear()
    mailbox.refuse = False
    async with app_for_test(database_url, smtp_url=mailbox.url, **MAIL_SETTINGS) as app:
        yield app


@pytest.fixture
async def mail_client(mail_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=mail_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c
