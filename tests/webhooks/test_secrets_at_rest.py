"""Secrets at rest: no table holds a secret in the clear, and the data keys rotate.

The dump reads every table the database has (not only the models'), every column, as the
database returns it: what a stolen backup would hold."""

import base64
import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import create_engine, inspect, text
from sqlmodel import SQLModel, col, select
from standardwebhooks import Webhook

from app.core.config import Settings
from app.core.db import sync_url
from app.core.encryption import Unreadable, development_key, key_ring, new_key, ring_of
from app.core.metadata import metadata
from app.core.rekey import main as rotate_command
from app.core.rekey import rotate, sealed_columns
from app.core.timeutil import utcnow
from app.webhooks.models import MailMessage, WebhookDelivery, WebhookEndpoint
from app.webhooks.vapid import vapid_keys
from app.webhooks.worker import UNREADABLE
from tests.conftest import TEST_DATA_KEY, make_settings
from tests.factories import api_key, member, need_body
from tests.webhooks.support import Receiver, drain, org_with_webhook, worker_settings


async def dump(app: FastAPI) -> list[str]:
    """Every value of every row of every table, as text (bytes both raw and as hex)."""
    async with app.state.engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        values: list[str] = []
        for table in tables:
            for row in (await conn.execute(text(f'SELECT * FROM "{table}"'))).all():
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        raw = bytes(value)
                        values += [raw.decode("latin-1"), raw.hex()]
                    elif isinstance(value, dict | list):
                        values.append(json.dumps(value))
                    elif value is not None:
                        values.append(str(value))
    assert len(tables) >= len(SQLModel.metadata.tables)
    return values


def reset_token(mail: MailMessage) -> str:
    [token] = re.findall(r"token=([A-Za-z0-9_-]+)", ring_of([TEST_DATA_KEY]).open(mail.text_body))
    return str(token)


async def mails(app: FastAPI) -> list[MailMessage]:
    async with app.state.sessionmaker() as session:
        return list((await session.exec(select(MailMessage))).all())


async def test_no_table_holds_a_secret_in_the_clear(
    hook_client: httpx.AsyncClient, hook_app: FastAPI
) -> None:
    coordinator = await member(hook_client)
    org, hook = await org_with_webhook(hook_client, coordinator, "https://partner.example.org/hooks")
    # Created with an Idempotency-Key too: the stored response holds the secret, sealed its own way.
    again = await hook_client.post(
        f"/v1/organizations/{org}/webhooks",
        json={"url": "https://partner.example.org/second", "events": ["need.created"]},
        headers={**coordinator.headers, "Idempotency-Key": "second-hook"},
    )
    assert again.status_code == 201, again.text
    key = await api_key(hook_client, coordinator, org, ["needs:read"])
    # A reset link waiting in the outbox is a secret too.
    r = await hook_client.post("/v1/auth/password-reset", json={"email": coordinator.data["email"]})
    assert r.status_code == 202
    [mail] = await mails(hook_app)
    token = reset_token(mail)
    # The Web Push signing key the service made for itself (none is configured here).
    assert (await hook_client.get("/v1/push/public-key")).status_code == 200
    async with hook_app.state.sessionmaker() as session:
        vapid = await vapid_keys(session, hook_app.state.settings)
    scalar = vapid.private_key.private_numbers().private_value.to_bytes(32, "big")

    secrets = {
        "VAPID private key (PEM)": vapid.pem().splitlines()[1],
        "VAPID private key (scalar)": base64.urlsafe_b64encode(scalar).rstrip(b"=").decode(),
        "webhook secret": hook["secret"],
        "webhook key bytes": hook["secret"].removeprefix("whsec_"),
        "second webhook secret": again.json()["secret"],
        "API key": key["key"],
        "reset token": token,
    }
    values = await dump(hook_app)
    for name, secret in secrets.items():
        assert not [v for v in values if secret in v], f"the {name} is stored in the clear"
    # Each sealed value opens, with the key, to what was shown once.
    async with hook_app.state.sessionmaker() as session:
        stored = {e.url: e.secret for e in (await session.exec(select(WebhookEndpoint))).all()}
    keys = ring_of([TEST_DATA_KEY])
    assert keys.open(stored["https://partner.example.org/hooks"]) == hook["secret"]
    assert keys.open(stored["https://partner.example.org/second"]) == again.json()["secret"]
    assert f"token={token}" in keys.open(mail.html_body)


def test_every_secret_column_is_marked_sealed() -> None:
    """What rotation walks: a column added without the mark would be neither sealed nor rotated."""
    found = {f"{t.name}.{c.name}" for t, columns in sealed_columns(metadata) for c in columns}
    assert found >= {
        "webhook_endpoints.secret",
        "mail_messages.text_body",
        "mail_messages.html_body",
        "server_keys.secret",
    }


async def _sealed_values(app: FastAPI) -> list[str]:
    async with app.state.sessionmaker() as session:
        values = list((await session.exec(select(WebhookEndpoint.secret))).all())
        for m in (await session.exec(select(MailMessage))).all():
            values += [m.text_body, m.html_body]
    return [v for v in values if v]


async def test_rotation_re_seals_everything_and_the_old_key_can_go(
    hook_client: httpx.AsyncClient, hook_app: FastAPI, receiver: Receiver
) -> None:
    coordinator = await member(hook_client)
    org, hook = await org_with_webhook(hook_client, coordinator, receiver.url, ["need.created"])
    await org_with_webhook(hook_client, coordinator, receiver.url, ["need.cancelled"])
    await hook_client.post("/v1/auth/password-reset", json={"email": coordinator.data["email"]})
    old = TEST_DATA_KEY
    new = new_key()

    # The new key first, the old one still listed: everything reads while values move.
    both = worker_settings(hook_app, data_encryption_keys=[SecretStr(new), SecretStr(old)])
    tallies = await rotate(hook_app.state.sessionmaker, key_ring(both), metadata, batch_size=1)
    counts = {t.column: (t.resealed, t.current, t.unreadable) for t in tallies}
    assert counts["webhook_endpoints.secret"] == (2, 0, 0)
    assert counts["mail_messages.text_body"] == counts["mail_messages.html_body"] == (1, 0, 0)
    # Idempotent: a second run finds everything current and writes nothing.
    again = await rotate(hook_app.state.sessionmaker, key_ring(both), metadata, batch_size=1)
    assert [t.resealed for t in again] == [0] * len(again)
    assert sum(t.current for t in again) == 4

    # The old key removed: every value opens with the new key alone, none with the old alone.
    for value in await _sealed_values(hook_app):
        ring_of([new]).open(value)
        with pytest.raises(Unreadable):
            ring_of([old]).open(value)

    # The worker with only the new key signs as before: the receiver verifies with the secret
    # it was shown at creation.
    only_new = worker_settings(hook_app, data_encryption_keys=[SecretStr(new)])
    created = await hook_client.post(
        "/v1/needs", json=need_body(organization_id=org), headers=coordinator.headers
    )
    assert created.status_code == 201, created.text
    await drain(hook_app, settings=only_new)
    [request] = receiver.requests
    payload: Any = Webhook(hook["secret"]).verify(request.body, request.headers)
    assert payload["data"]["need_id"] == created.json()["id"]


async def test_a_value_no_key_opens_is_not_sent_and_says_why(
    hook_client: httpx.AsyncClient, hook_app: FastAPI, receiver: Receiver
) -> None:
    coordinator = await member(hook_client)
    org, _ = await org_with_webhook(hook_client, coordinator, receiver.url, ["need.created"])
    await hook_client.post("/v1/needs", json=need_body(organization_id=org), headers=coordinator.headers)
    dropped_too_soon = worker_settings(hook_app, data_encryption_keys=[SecretStr(new_key())])
    await drain(hook_app, settings=dropped_too_soon.model_copy(update={"webhook_max_attempts": 1}))
    assert receiver.requests == []
    async with hook_app.state.sessionmaker() as session:
        [delivery] = (
            await session.exec(select(WebhookDelivery).where(col(WebhookDelivery.endpoint_id).is_not(None)))
        ).all()
    assert (delivery.status, delivery.last_error) == ("failed", UNREADABLE)
    # Rotation with no key that opens it names the problem and changes nothing.
    tallies = await rotate(hook_app.state.sessionmaker, key_ring(dropped_too_soon), metadata, batch_size=10)
    assert {t.column: t.unreadable for t in tallies}["webhook_endpoints.secret"] == 1


def test_the_rotate_command_reports_and_is_idempotent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'rotate.db'}"
    engine = create_engine(sync_url(url))
    SQLModel.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            MailMessage.__table__.insert().values(  # type: ignore[attr-defined]
                id=uuid.uuid4(),
                to_address="someone@example.org",
                subject="s",
                text_body=ring_of([TEST_DATA_KEY]).seal("a link"),
                html_body="",
                created_at=utcnow(),
            )
        )
    engine.dispose()
    settings = make_settings(url, data_encryption_keys=f"{new_key()},{TEST_DATA_KEY}")
    assert rotate_command(settings, metadata, batch_size=10) == 0
    first = capsys.readouterr().out
    assert "mail_messages.text_body: 1 re-sealed, 0 already current" in first
    assert rotate_command(settings, metadata, batch_size=10) == 0
    assert "mail_messages.text_body: 0 re-sealed, 1 already current" in capsys.readouterr().out
    lost = make_settings(url, data_encryption_keys=new_key())
    assert rotate_command(lost, metadata, batch_size=10) == 1
    assert "open with no configured key" in capsys.readouterr().out


def test_a_development_machine_makes_and_keeps_one_key(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "mutual_aid.key"
    settings = Settings(database_url="sqlite+aiosqlite://", data_encryption_key_file=path)
    sealed = key_ring(settings).seal("whsec_abc")
    assert path.stat().st_mode & 0o777 == 0o600
    assert development_key(path) == path.read_text().strip()
    # A second process (the worker) reads the same key and opens what the first sealed.
    assert ring_of([development_key(path)]).open(sealed) == "whsec_abc"
    path.write_text("not a key\n")
    with pytest.raises(ValueError, match="does not hold a Fernet key"):
        development_key(path)


def test_keys_are_checked_at_start_up_and_never_echoed() -> None:
    with pytest.raises(ValueError, match="key 2 is not a Fernet key") as raised:
        Settings(data_encryption_keys=f"{TEST_DATA_KEY},not-a-key-at-all")
    assert "not-a-key-at-all" not in str(raised.value)
    assert TEST_DATA_KEY not in repr(Settings(data_encryption_keys=TEST_DATA_KEY))
