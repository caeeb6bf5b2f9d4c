"""The VAPID key pair (RFC 8292) that signs every Web Push: from settings, or made once and kept.

With `VAPID_PRIVATE_KEY` set, that key is used. Without it, the first process that needs a key
makes one and stores it (`server_keys`, one row named `vapid`, inserted with ON CONFLICT DO
NOTHING; its private half sealed under DATA_ENCRYPTION_KEYS like every stored secret), and every
process then reads the stored one: the API answers the same public key
whichever process serves `GET /push/public-key`, and the worker signs with its private half.
Browsers subscribe with that public key, so it must never change under them: a deployment that
moves to a configured key must re-subscribe its members' browsers.
"""

import base64
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.encryption import key_ring
from app.core.timeutil import utcnow
from app.webhooks.models import ServerKey

KEY_NAME = "vapid"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Base64url with or without padding (RFC 7515 2); binascii.Error or ValueError when it is not."""
    cleaned = text.strip()
    if not cleaned or any(c in cleaned for c in "+/"):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))


@dataclass(frozen=True)
class VapidKeys:
    private_key: ec.EllipticCurvePrivateKey

    @property
    def public_key(self) -> str:
        """The application server key browsers subscribe with: the uncompressed P-256 point
        (65 bytes, 0x04 || X || Y), base64url without padding (the Push API's
        `applicationServerKey`)."""
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(point)

    def signer(self) -> Vapid:
        return Vapid(self.private_key)

    def pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii")


def parse_private_key(text: str) -> VapidKeys:
    """A P-256 private key as PEM (PKCS#8 or SEC1), or base64url of its 32-byte scalar or of its
    DER (the forms `vapid --gen` and web-push tools print). ValueError for anything else."""
    stripped = text.strip()
    key: object
    if stripped.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(stripped.encode("ascii"), password=None)
    else:
        raw = b64url_decode(stripped)
        if len(raw) == 32:
            key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
        else:
            key = serialization.load_der_private_key(raw, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("a VAPID key is a P-256 (prime256v1) EC private key")
    return VapidKeys(key)


async def vapid_keys(session: AsyncSession, settings: Settings) -> VapidKeys:
    """The configured key, else the stored one (made and stored now if there is none yet).

    Read each time (one indexed row), so nothing cached can disagree with the database.
    Race-safe: two processes making a key at once both insert with ON CONFLICT DO NOTHING and
    then both read the row that won. The insert commits with the caller's transaction; the
    caller is a short one of its own (the worker's, or the public-key route's request)."""
    if settings.vapid_private_key:
        return parse_private_key(settings.vapid_private_key)
    stored = await _stored(session)
    if stored is None:
        fresh = VapidKeys(ec.generate_private_key(ec.SECP256R1()))
        builder = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        await session.exec(
            builder(ServerKey)
            .values(name=KEY_NAME, secret=key_ring(settings).seal(fresh.pem()), created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["name"])
        )
        stored = await _stored(session)
        assert stored is not None  # inserted, or another process's insert won
    return parse_private_key(key_ring(settings).open(stored))


async def _stored(session: AsyncSession) -> str | None:
    row = await session.exec(select(ServerKey.secret).where(col(ServerKey.name) == KEY_NAME))
    return row.first()


def check_configured(settings: Settings) -> None:
    """At start-up (API and worker): a VAPID_PRIVATE_KEY that is set must be usable, so a typo
    stops the service with a message naming it rather than failing every push later."""
    if settings.vapid_private_key:
        try:
            parse_private_key(settings.vapid_private_key)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"VAPID_PRIVATE_KEY is not a usable P-256 private key: {exc}") from None
