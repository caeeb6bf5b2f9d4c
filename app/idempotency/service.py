"""Claiming an Idempotency-Key, waiting for its first request, storing or releasing its response.

The database decides who runs a request: an INSERT that does nothing on a conflict of
(scope, key_hash) claims the key for exactly one request, however many race for it. Every
later change to a row is conditional on the claim it was made under (`locked_at`), so a
request whose lease was taken over can never overwrite its successor's result.
"""

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio
from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import Conflict, Invalid
from app.core.timeutil import utcnow
from app.core.transactions import commit_own
from app.idempotency.models import IdempotencyKey
from app.idempotency.sealing import Headers, KeyMaterial, seal, unseal

log = logging.getLogger(__name__)
PURGE_BATCH = 500


class KeyReused(Invalid):
    slug = "idempotency-key-reused"

    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was used with a different request (method, path, query or body); "
            "use a new key for a new request.",
            loc=["header", "Idempotency-Key"],
        )


class KeyInUse(Conflict):
    slug = "idempotency-key-in-use"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still being processed; retry after Retry-After "
            "seconds to get its response.",
            headers={"Retry-After": str(retry_after)},
        )


@dataclass(frozen=True)
class Policy:
    ttl: timedelta  # how long a key and its response are kept
    lease: timedelta  # how long a claim may run before it is presumed dead
    wait_seconds: float  # how long a duplicate waits for the first request before a 409


@dataclass(frozen=True)
class Stored:
    status_code: int
    headers: Headers
    body: bytes


@dataclass(frozen=True)
class Claim:
    """This request owns the key; `locked_at` is the token every later change is conditional on."""

    row_id: uuid.UUID
    locked_at: datetime
    material: KeyMaterial


async def _insert(
    session: AsyncSession, *, scope: str, material: KeyMaterial, fingerprint: str, ttl: timedelta
) -> Claim | None:
    now = utcnow()
    row = IdempotencyKey(
        scope=scope, key_hash=material.key_hash, fingerprint=fingerprint, locked_at=now, expires_at=now + ttl
    )
    dialect = session.get_bind().dialect.name
    builder = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        builder(IdempotencyKey)
        .values(**row.model_dump())
        .on_conflict_do_nothing(index_elements=["scope", "key_hash"])
        .returning(col(IdempotencyKey.id))
    )
    # RETURNING, not rowcount: drivers report -1 for an INSERT that may have done nothing.
    inserted = (await session.exec(stmt)).first()
    await commit_own(session)
    return Claim(row_id=row.id, locked_at=now, material=material) if inserted is not None else None


async def _load(session: AsyncSession, *, scope: str, key_hash: str) -> IdempotencyKey | None:
    stmt = select(IdempotencyKey).where(
        col(IdempotencyKey.scope) == scope, col(IdempotencyKey.key_hash) == key_hash
    )
    row = (await session.exec(stmt.execution_options(populate_existing=True))).first()
    # End the read at once: a waiting request must hold no connection while it sleeps.
    await commit_own(session)
    return row


async def _drop_expired(session: AsyncSession, row: IdempotencyKey, now: datetime) -> None:
    """An expired key is a new key: remove it (if no one else already has) and claim afresh."""
    await session.exec(
        delete(IdempotencyKey).where(col(IdempotencyKey.id) == row.id, col(IdempotencyKey.expires_at) <= now)
    )
    await commit_own(session)


async def _take_over(session: AsyncSession, row: IdempotencyKey, material: KeyMaterial) -> Claim | None:
    """A claim older than the lease belongs to a request that died: run the request again."""
    now = utcnow()
    result = await session.exec(
        update(IdempotencyKey)
        .where(
            col(IdempotencyKey.id) == row.id,
            col(IdempotencyKey.status_code).is_(None),
            col(IdempotencyKey.locked_at) == row.locked_at,
        )
        .values(locked_at=now)
    )
    await commit_own(session)
    return Claim(row_id=row.id, locked_at=now, material=material) if result.rowcount == 1 else None


def _stored(row: IdempotencyKey, material: KeyMaterial) -> Stored:
    assert row.status_code is not None
    assert row.response is not None
    headers, body = unseal(material, status_code=row.status_code, blob=row.response)
    return Stored(status_code=row.status_code, headers=headers, body=body)


async def acquire(
    session: AsyncSession, *, scope: str, material: KeyMaterial, fingerprint: str, policy: Policy
) -> Claim | Stored:
    """Claim the key, or return the response of the request that did. A duplicate that finds the
    first still running waits for it (up to `policy.wait_seconds`) so that it can replay it."""
    deadline = time.monotonic() + policy.wait_seconds
    pause = 0.02
    while True:
        claim = await _insert(
            session, scope=scope, material=material, fingerprint=fingerprint, ttl=policy.ttl
        )
        if claim is not None:
            return claim
        row = await _load(session, scope=scope, key_hash=material.key_hash)
        if row is None:
            continue  # released (a 5xx) between our insert and our read: claim it now
        now = utcnow()
        if row.expires_at <= now:
            await _drop_expired(session, row, now)
            continue
        if row.fingerprint != fingerprint:
            raise KeyReused()
        if row.status_code is not None:
            return _stored(row, material)
        if row.locked_at is not None and row.locked_at <= now - policy.lease:
            if (claim := await _take_over(session, row, material)) is not None:
                return claim
            continue
        if time.monotonic() >= deadline:
            raise KeyInUse(retry_after=1)
        await anyio.sleep(pause)
        pause = min(pause * 2, 0.25)


async def complete(
    session: AsyncSession, claim: Claim, *, status_code: int, headers: Headers, body: bytes
) -> bool:
    """Keep the response for replays; False when the claim had been taken over meanwhile."""
    blob = seal(claim.material, status_code=status_code, headers=headers, body=body)
    result = await session.exec(
        update(IdempotencyKey)
        .where(col(IdempotencyKey.id) == claim.row_id, col(IdempotencyKey.locked_at) == claim.locked_at)
        .values(status_code=status_code, response=blob, locked_at=None)
    )
    await commit_own(session)
    return bool(result.rowcount == 1)


async def release(session: AsyncSession, claim: Claim) -> None:
    """Forget the key, so the client's retry runs the request again."""
    await session.exec(
        delete(IdempotencyKey).where(
            col(IdempotencyKey.id) == claim.row_id, col(IdempotencyKey.locked_at) == claim.locked_at
        )
    )
    await commit_own(session)


async def purge(session: AsyncSession, *, now: datetime) -> int:
    """Delete expired keys, a bounded batch at a time so no call holds locks for long."""
    batch = select(IdempotencyKey.id).where(col(IdempotencyKey.expires_at) <= now).limit(PURGE_BATCH)
    result = await session.exec(delete(IdempotencyKey).where(col(IdempotencyKey.id).in_(batch)))
    await commit_own(session)
    return int(result.rowcount)
