"""Real local parts for mail and push tests: a push service over HTTPS on 127.0.0.1 (with a
certificate made here), a browser's key pair, and the worker passes that deliver to them."""

import base64
import datetime as dt
import ipaddress
import ssl
import tempfile
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import http_ece
import httpx
import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import col, select

from app.core.config import Settings
from app.core.timeutil import utcnow
from app.members.models import Member as MemberRow
from app.webhooks.models import PushSubscription, WebhookDelivery
from app.webhooks.worker import run_once
from tests.factories import Member, need_body, offer_body

HERE = {"lat": 51.5, "lon": -0.12}
# The need's exact point: digits no timestamp or id could hold by chance.
NEED_AT = {"lat": 51.512347, "lon": -0.123459}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """What a browser keeps for a push subscription: its ECDH key pair and auth secret."""

    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: bytes(range(16)))

    @property
    def p256dh(self) -> str:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return _b64(point)

    def subscription(self, endpoint: str) -> dict[str, Any]:
        return {
            "endpoint": endpoint,
            "expirationTime": None,
            "keys": {"p256dh": self.p256dh, "auth": _b64(self.auth)},
        }

    def decrypt(self, body: bytes) -> dict[str, Any]:
        """RFC 8291: aes128gcm, the sender's public key in the header, our private key and secret."""
        plain = http_ece.decrypt(
            body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm"
        )
        decoded: dict[str, Any] = orjson.loads(plain)
        return decoded


@dataclass
class Pushed:
    path: str
    headers: dict[str, str]
    body: bytes


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "push.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class PushService:
    """A push service on https://127.0.0.1:<port>: records each POST; `status(n)` answers the n-th."""

    def __init__(self) -> None:
        self.received: list[Pushed] = []
        self.status: Callable[[int], int] = lambda n: 201
        self._dir = tempfile.TemporaryDirectory()
        cert, key = _certificate(Path(self._dir.name))
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                n = len(service.received)
                service.received.append(Pushed(self.path, dict(self.headers.items()), body))
                self.send_response(service.status(n))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.trust = ssl.create_default_context(cafile=str(cert))  # what the worker's client trusts
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def endpoint(self, name: str) -> str:
        return f"https://127.0.0.1:{self.port}/push/v1/{name}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._dir.cleanup()


async def deliver(app: FastAPI, *, trust: ssl.SSLContext | None = None, **changes: Any) -> int:
    """One worker pass, as `python -m app worker` makes them, with these settings changed; its
    HTTP client trusts `trust` (the local push service's certificate) besides the usual roots."""
    settings: Settings = app.state.settings.model_copy(update=changes)
    async with httpx.AsyncClient(
        timeout=settings.webhook_timeout_seconds,
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_keepalive_connections=0),
        verify=trust or True,
    ) as client:
        return await run_once(app.state.sessionmaker, settings, client)


async def verify_address(app: FastAPI, who: Member) -> None:
    """As following the verification link does (tests/members covers the link itself)."""
    async with app.state.sessionmaker() as session:
        await session.exec(
            update(MemberRow).where(col(MemberRow.id) == uuid.UUID(who.id)).values(email_verified_at=utcnow())
        )
        await session.commit()


async def propose(client: httpx.AsyncClient, requester: Member, volunteer: Member) -> dict[str, Any]:
    """The requester proposes the volunteer's offer for their need: `match.proposed` to the volunteer."""
    need = await client.post("/v1/needs", json=need_body(location=NEED_AT), headers=requester.headers)
    offer = await client.post(
        "/v1/offers", json=offer_body(location=HERE, availability=[]), headers=volunteer.headers
    )
    assert need.status_code == offer.status_code == 201, (need.text, offer.text)
    body = {"need_id": need.json()["id"], "offer_id": offer.json()["id"]}
    match = await client.post("/v1/matches", json=body, headers=requester.headers)
    assert match.status_code == 201, match.text
    data: dict[str, Any] = match.json()
    return data


async def outbox(app: FastAPI, channel: str) -> list[WebhookDelivery]:
    async with app.state.sessionmaker() as session:
        stmt = select(WebhookDelivery).where(col(WebhookDelivery.channel) == channel)
        return list((await session.exec(stmt.order_by(col(WebhookDelivery.created_at)))).all())


async def subscriptions(app: FastAPI) -> list[PushSubscription]:
    async with app.state.sessionmaker() as session:
        return list((await session.exec(select(PushSubscription))).all())


async def settings_put(client: httpx.AsyncClient, who: Member, **body: Any) -> None:
    r = await client.put("/v1/members/me/notification-settings", json=body, headers=who.headers)
    assert r.status_code == 200, r.text


def private_values(requester: Member) -> list[str]:
    """What the other side must never learn from a mail or push: who the requester is, how to
    reach them, where exactly, what they wrote."""
    body = need_body()
    return [
        requester.data["display_name"],
        requester.data["email"],
        requester.data["phone"],
        body["address"].split(",")[1].strip(),  # "Example Road"
        body["contact"]["name"],
        body["contact"]["phone"],
        body["title"],
        body["description"],
        "51.512347",
        "0.123459",
    ]
