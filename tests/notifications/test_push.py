"""Web Push end to end: the key browsers subscribe with, subscriptions, and a push that a local push
service receives over HTTPS and the test decrypts with the browser's private key (RFC 8291)."""

import asyncio
import base64
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import col, func, select

from app.core.config import Settings
from app.core.encryption import key_ring, new_key, ring_of
from app.core.timeutil import utcnow
from app.main import create_app
from app.webhooks.models import PushMessage, ServerKey, WebhookDelivery
from app.webhooks.vapid import parse_private_key, vapid_keys
from tests.conftest import app_for_test, asgi_client
from tests.factories import PASSWORD, assert_problem, member
from tests.notifications.channels import (
    Browser,
    PushService,
    deliver,
    outbox,
    private_values,
    propose,
    settings_put,
    subscriptions,
)

PUSH_SETTINGS: dict[str, object] = {
    # The push service of these tests listens on loopback, as webhook tests' receivers do.
    "webhook_allow_private_targets": True,
    "webhook_backoff_base_seconds": 0.01,
    "webhook_backoff_cap_seconds": 0.05,
    "vapid_subject": "mailto:operators@example.org",
}


@pytest.fixture
def push_service() -> Iterator[PushService]:
    service = PushService()
    yield service
    service.close()


@pytest.fixture
async def push_app(database_url: str) -> AsyncIterator[FastAPI]:
    async with app_for_test(database_url, **PUSH_SETTINGS) as app:
        yield app


@pytest.fixture
async def push_client(push_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(push_app) as c:
        yield c


def _point(public_key: str) -> bytes:
    return base64.urlsafe_b64decode(public_key + "=" * (-len(public_key) % 4))


async def test_the_public_key_is_made_once_and_kept(client: httpx.AsyncClient, application: FastAPI) -> None:
    first = await client.get("/v1/push/public-key")  # no credential
    assert first.status_code == 200, first.text
    key = first.json()["public_key"]
    point = _point(key)
    assert (len(point), point[0], "=" in key) == (65, 4, False)
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)  # on the curve
    assert (await client.get("/v1/push/public-key")).json() == {"public_key": key}
    async with application.state.sessionmaker() as session:
        stored = (await session.exec(select(ServerKey))).all()
    assert [k.name for k in stored] == ["vapid"]
    # Kept sealed under DATA_ENCRYPTION_KEYS, like every secret the service reads back.
    assert "PRIVATE KEY" not in stored[0].secret
    pem = key_ring(application.state.settings).open(stored[0].secret)
    assert parse_private_key(pem).public_key == key


async def test_a_kept_key_no_data_key_opens_is_a_503_not_a_500(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    assert (await client.get("/v1/push/public-key")).status_code == 200
    async with application.state.sessionmaker() as session:
        # As if DATA_ENCRYPTION_KEYS had lost the key it was sealed under.
        await session.exec(update(ServerKey).values(secret=ring_of([new_key()]).seal("lost")))
        await session.commit()
    r = await client.get("/v1/push/public-key")
    assert_problem(r, 503)
    assert "lost" not in r.text


async def test_a_configured_key_is_used_and_nothing_stored(database_url: str) -> None:
    configured = ec.generate_private_key(ec.SECP256R1())
    raw = configured.private_numbers().private_value.to_bytes(32, "big")
    text = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    async with app_for_test(database_url, vapid_private_key=text) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            key = (await c.get("/v1/push/public-key")).json()["public_key"]
        async with app.state.sessionmaker() as session:
            assert (await session.exec(select(func.count()).select_from(ServerKey))).one() == 0
    assert key == parse_private_key(text).public_key


@pytest.mark.postgres
async def test_two_processes_making_the_key_at_once_agree(application: FastAPI) -> None:
    """The first insert waits for nothing; the second waits for the first to commit, does
    nothing, and reads the first's key: both answer the same one."""
    settings = application.state.settings
    async with application.state.sessionmaker() as one, application.state.sessionmaker() as two:
        first = await vapid_keys(one, settings)
        second = asyncio.create_task(vapid_keys(two, settings))
        await asyncio.sleep(0.2)
        assert not second.done()  # waiting on the first's uncommitted row
        await one.commit()
        assert (await second).public_key == first.public_key
        await two.commit()


async def test_subscriptions_are_validated_kept_once_and_owned(push_client: httpx.AsyncClient) -> None:
    owner, other = await member(push_client), await member(push_client)
    browser = Browser()
    body = browser.subscription("https://push.example.net/wpush/v2/gAAAAABh-one")
    created = await push_client.post("/v1/members/me/push-subscriptions", json=body, headers=owner.headers)
    assert created.status_code == 201, created.text
    sub = created.json()
    assert created.headers["Location"] == f"/v1/members/me/push-subscriptions/{sub['id']}"
    assert sub["endpoint"] == body["endpoint"]
    again = await push_client.post("/v1/members/me/push-subscriptions", json=body, headers=owner.headers)
    assert (again.status_code, again.json()["id"]) == (201, sub["id"])
    listed = await push_client.get("/v1/members/me/push-subscriptions", headers=owner.headers)
    assert [s["id"] for s in listed.json()] == [sub["id"]]
    assert (await push_client.get("/v1/members/me/push-subscriptions", headers=other.headers)).json() == []
    # Someone else's id is as unknown as a made-up one.
    path = f"/v1/members/me/push-subscriptions/{sub['id']}"
    assert_problem(await push_client.delete(path, headers=other.headers), 404)
    assert (await push_client.delete(path, headers=owner.headers)).status_code == 204
    assert_problem(await push_client.delete(path, headers=owner.headers), 404)
    assert_problem(await push_client.post("/v1/members/me/push-subscriptions", json=body), 401)


def _with(body: dict, **keys: str) -> dict:
    return {**body, "keys": {**body["keys"], **keys}}


async def test_a_bad_subscription_is_422_and_changes_nothing(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    who = await member(client)
    good = Browser().subscription("https://push.example.net/wpush/v2/abc")
    not_on_curve = base64.urlsafe_b64encode(b"\x04" + b"\x01" * 64).rstrip(b"=").decode()
    wrong_prefix = base64.urlsafe_b64encode(b"\x02" + b"\x01" * 64).rstrip(b"=").decode()
    seventeen = base64.urlsafe_b64encode(bytes(17)).rstrip(b"=").decode()
    bad = {
        "http": {**good, "endpoint": "http://push.example.net/wpush/v2/abc"},
        "loopback": {**good, "endpoint": "https://127.0.0.1/wpush"},
        "localhost": {**good, "endpoint": "https://localhost:8443/wpush"},
        "private": {**good, "endpoint": "https://10.1.2.3/wpush"},
        "credentials": {**good, "endpoint": "https://user:pw@push.example.net/wpush"},
        "not a url": {**good, "endpoint": "https://"},
        "unbalanced bracket": {**good, "endpoint": "https://N+.F]"},  # found by the fuzzer
        "off the curve": _with(good, p256dh=not_on_curve),
        "not an uncompressed point": _with(good, p256dh=wrong_prefix),
        "auth of 17 bytes": _with(good, auth=seventeen),
        "auth not base64url": _with(good, auth="tBHItJI5svbpez7KI4CC+g"),
        "no keys": {"endpoint": good["endpoint"]},
        "unknown field": {**good, "extra": 1},
        "expirationTime not a number": {**good, "expirationTime": False},
    }
    for name, body in bad.items():
        r = await client.post("/v1/members/me/push-subscriptions", json=body, headers=who.headers)
        assert r.status_code == 422, (name, r.text)
        assert_problem(r, 422)
        # What no schema can say is a `rule` (a schema-valid body the fuzzer may send).
        if name in ("unbalanced bracket", "off the curve", "loopback"):
            assert {e["type"] for e in r.json()["errors"]} == {"rule"}, (name, r.text)
    assert await subscriptions(application) == []


async def test_a_push_reaches_the_browser_encrypted_and_signed(
    push_client: httpx.AsyncClient, push_app: FastAPI, push_service: PushService
) -> None:
    requester, volunteer = await member(push_client), await member(push_client)
    browser = Browser()
    body = browser.subscription(push_service.endpoint("volunteer-browser"))
    r = await push_client.post("/v1/members/me/push-subscriptions", json=body, headers=volunteer.headers)
    assert r.status_code == 201, r.text
    await settings_put(push_client, volunteer, push=True, email=False)
    match = await propose(push_client, requester, volunteer)
    assert push_service.received == []  # the worker sends, after the commit

    assert await deliver(push_app, trust=push_service.trust) == 1
    [pushed] = push_service.received
    assert pushed.path == "/push/v1/volunteer-browser"
    assert pushed.headers["Content-Encoding"] == "aes128gcm"
    assert int(pushed.headers["TTL"]) == push_app.state.settings.push_ttl_seconds
    # VAPID (RFC 8292): a JWT for this push service's origin, signed by the key browsers subscribe with.
    scheme, _, params = pushed.headers["Authorization"].partition(" ")
    fields = dict(p.split("=", 1) for p in params.split(","))
    public_key = (await push_client.get("/v1/push/public-key")).json()["public_key"]
    assert (scheme, fields["k"]) == ("vapid", public_key)
    verifier = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _point(public_key))
    claims = jwt.decode(
        fields["t"], verifier, algorithms=["ES256"], audience=f"https://127.0.0.1:{push_service.port}"
    )
    assert claims["sub"] == "mailto:operators@example.org"
    assert claims["exp"] <= (utcnow() + timedelta(hours=24)).timestamp()

    # Only the browser's private key opens it; inside, the notification's ids and nothing private.
    message = browser.decrypt(pushed.body)
    inbox = (await push_client.get("/v1/notifications", headers=volunteer.headers)).json()["items"]
    assert message == {
        "id": inbox[0]["id"],
        "type": "match.proposed",
        "created_at": message["created_at"],
        "data": {
            "match_id": match["id"],
            "need_id": match["need_id"],
            "offer_id": match["offer_id"],
            "status": "proposed",
        },
    }
    text = pushed.body.decode("latin-1") + str(message)
    for value in private_values(requester):
        assert value not in text
    [delivery] = await outbox(push_app, "push")
    assert (delivery.status, delivery.event_type, delivery.last_status_code) == (
        "delivered",
        "push.match.proposed",
        201,
    )


async def test_a_gone_subscription_is_removed_and_a_failing_one_retried(
    push_client: httpx.AsyncClient, push_app: FastAPI, push_service: PushService
) -> None:
    requester, volunteer = await member(push_client), await member(push_client)
    kept, gone = Browser(), Browser()
    for name, browser in (("kept", kept), ("gone", gone)):
        body = browser.subscription(push_service.endpoint(name))
        r = await push_client.post("/v1/members/me/push-subscriptions", json=body, headers=volunteer.headers)
        assert r.status_code == 201, r.text
    await settings_put(push_client, volunteer, push=True, email=False)
    # The "gone" browser's push service answers 410; the other fails once with 503, then takes it.
    answers = {"kept": iter([503, 201]), "gone": iter([410])}
    push_service.status = lambda n: next(answers[push_service.received[n].path.rsplit("/", 1)[1]])
    await propose(push_client, requester, volunteer)

    assert await deliver(push_app, trust=push_service.trust) == 2
    assert [s.endpoint for s in await subscriptions(push_app)] == [push_service.endpoint("kept")]
    [retrying] = await outbox(push_app, "push")  # the 410's delivery went with its subscription
    assert (retrying.status, retrying.attempts, retrying.last_status_code) == ("pending", 1, 503)
    await asyncio.sleep(0.06)  # past the test settings' largest backoff
    assert await deliver(push_app, trust=push_service.trust) == 1
    [done] = await outbox(push_app, "push")
    assert (done.status, done.attempts) == ("delivered", 2)
    assert sorted(p.path.rsplit("/", 1)[1] for p in push_service.received) == ["gone", "kept", "kept"]


async def test_the_worker_never_pushes_to_a_private_address(
    push_client: httpx.AsyncClient, push_app: FastAPI, push_service: PushService
) -> None:
    """A name that resolves to loopback passes the subscription's check; the worker's check after
    DNS, on every attempt, refuses it (app.webhooks.targets), exactly as for webhooks."""
    requester, volunteer = await member(push_client), await member(push_client)
    body = Browser().subscription(push_service.endpoint("b"))
    r = await push_client.post("/v1/members/me/push-subscriptions", json=body, headers=volunteer.headers)
    assert r.status_code == 201, r.text
    await settings_put(push_client, volunteer, push=True, email=False)
    await propose(push_client, requester, volunteer)
    assert await deliver(push_app, trust=push_service.trust, webhook_allow_private_targets=False) == 1
    assert push_service.received == []
    [delivery] = await outbox(push_app, "push")
    assert delivery.status == "pending"
    assert delivery.last_error == "The host is or resolves to a non-public address; not sent."


async def test_push_off_or_no_subscription_queues_nothing(
    push_client: httpx.AsyncClient, push_app: FastAPI
) -> None:
    requester, volunteer, other = [await member(push_client) for _ in range(3)]
    body = Browser().subscription("https://push.example.net/wpush/v2/off")
    r = await push_client.post("/v1/members/me/push-subscriptions", json=body, headers=volunteer.headers)
    assert r.status_code == 201, r.text
    await propose(push_client, requester, volunteer)  # push is off by default
    await settings_put(push_client, other, push=True)
    await propose(push_client, requester, other)  # on, but no browser subscribed
    assert await outbox(push_app, "push") == []


async def test_deleting_a_subscription_drops_its_waiting_pushes(
    push_client: httpx.AsyncClient, push_app: FastAPI
) -> None:
    requester, volunteer = await member(push_client), await member(push_client)
    body = Browser().subscription("https://push.example.net/wpush/v2/drop")
    sub = (
        await push_client.post("/v1/members/me/push-subscriptions", json=body, headers=volunteer.headers)
    ).json()
    await settings_put(push_client, volunteer, push=True, email=False)
    await propose(push_client, requester, volunteer)
    assert len(await outbox(push_app, "push")) == 1
    r = await push_client.delete(f"/v1/members/me/push-subscriptions/{sub['id']}", headers=volunteer.headers)
    assert r.status_code == 204
    assert await outbox(push_app, "push") == []
    async with push_app.state.sessionmaker() as session:
        assert (await session.exec(select(func.count()).select_from(PushMessage))).one() == 0
        pending = select(func.count()).where(col(WebhookDelivery.status) == "pending")
        assert (await session.exec(pending)).one() == 0


async def test_subscriptions_are_in_the_export_and_go_with_erasure(
    push_client: httpx.AsyncClient, push_app: FastAPI
) -> None:
    requester, volunteer = await member(push_client), await member(push_client)
    body = Browser().subscription("https://push.example.net/wpush/v2/mine")
    sub = (
        await push_client.post("/v1/members/me/push-subscriptions", json=body, headers=volunteer.headers)
    ).json()
    await settings_put(push_client, volunteer, push=True)
    await propose(push_client, requester, volunteer)
    export = (await push_client.get("/v1/members/me/export", headers=volunteer.headers)).json()
    [exported] = export["push_subscriptions"]
    assert (exported["id"], exported["endpoint"]) == (sub["id"], body["endpoint"])
    assert body["keys"]["p256dh"] not in str(export)  # the browser's keys are its own
    assert body["keys"]["auth"] not in str(export)

    r = await push_client.request(
        "DELETE", "/v1/members/me", json={"password": PASSWORD}, headers=volunteer.headers
    )
    assert r.status_code == 204, r.text
    assert await subscriptions(push_app) == []
    assert await outbox(push_app, "push") == []


def test_a_configured_key_that_is_not_one_stops_start_up() -> None:
    with pytest.raises(ValueError, match="VAPID_PRIVATE_KEY is not a usable P-256 private key"):
        create_app(Settings(vapid_private_key="not-a-key", environment="test"))
    pem = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="P-256"):
        parse_private_key(pem.decode())
