"""Password hashing (argon2), member access tokens (JWT) and organisations' API keys."""

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import jwt
from pwdlib import PasswordHash

from app.core.config import Settings
from app.core.timeutil import utcnow

_hasher = PasswordHash.recommended()
# Verifying against this when the email is unknown keeps login timing the same either way. A
# constant, not hashed at import: hashing costs every process ~0.1 s of CPU and 64 MiB at start.
# It must carry the hasher's own parameters (memory, time, parallelism), or a login for an unknown
# email would take another time: tests/core/test_security.py checks it still does.
UNKNOWN_MEMBER_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$n/awfjXqqTtFReSW1xYmIw$mTBirqftL/P205uy3rwBNA2l5bZNwrwsiMw0+JgG0Wg"
)
_DUMMY_HASH = UNKNOWN_MEMBER_HASH


def _verify(password: str, password_hash: str | None) -> bool:
    if password_hash is None:
        _hasher.verify(password, _DUMMY_HASH)
        return False
    return _hasher.verify(password, password_hash)


# argon2 takes ~100 ms of CPU on purpose: off the event loop, so other requests keep flowing.
async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_hasher.hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    return await anyio.to_thread.run_sync(_verify, password, password_hash)


def create_access_token(member_id: uuid.UUID, session_id: uuid.UUID, settings: Settings) -> str:
    now = utcnow()
    claims = {
        "sub": str(member_id),
        "sid": str(session_id),
        "iat": now,
        "exp": now + timedelta(seconds=settings.access_token_ttl_seconds),
        "typ": "member",
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm=settings.jwt_algorithm)


def _member_claims(token: str, settings: Settings) -> dict[str, Any] | None:
    """A valid member token's claims, session id included, or None for anything else. A token
    without a session id (issued before sessions existed) is refused: nothing could revoke it,
    so a logout or a password change would not end it."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[settings.jwt_algorithm],
            options={"require": ["sub", "sid", "exp", "iat"]},
        )
    except jwt.PyJWTError:
        return None
    return claims if claims.get("typ") == "member" else None


def decode_access_token(token: str, settings: Settings) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(member id, session id) of a valid token, or None for anything else."""
    claims = _member_claims(token, settings)
    try:
        return (uuid.UUID(claims["sub"]), uuid.UUID(claims["sid"])) if claims is not None else None
    except (ValueError, TypeError, AttributeError):
        return None


def access_token_expiry(token: str, settings: Settings) -> datetime | None:
    """When a valid member token stops working (UTC), or None for anything else: what a
    long-lived response (a notification stream) must not outlive."""
    claims = _member_claims(token, settings)
    if claims is None or isinstance(claims["exp"], bool) or not isinstance(claims["exp"], int | float):
        return None
    return datetime.fromtimestamp(claims["exp"], UTC)


def new_secret_token() -> tuple[str, str]:
    """(token, sha256 hex): 256 random bits, so a fast hash is enough to keep only the hash."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


KEY_PREFIX = "ma_"


def new_api_key() -> tuple[str, str, str]:
    """(secret, display prefix, hash): 256 bits of randomness, so a fast hash is enough."""
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    return secret, secret[:11], hash_api_key(secret)


def hash_api_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
