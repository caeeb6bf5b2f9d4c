"""Idempotency keys: one row per (caller, key), claimed before the request runs."""

import uuid
from datetime import datetime

from sqlalchemy import Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

import app.core.metadata  # noqa: F401  (naming convention first)
from app.core.timeutil import UTCDateTime, utcnow


class IdempotencyKey(SQLModel, table=True):
    """Nothing here is readable without the client's key: the key itself is kept only as a
    keyed hash, the request as a keyed fingerprint, and the response as ciphertext."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        # The claim: whoever inserts (scope, key) first runs the request; everyone else waits or replays.
        UniqueConstraint("scope", "key_hash", name="uq_idempotency_keys_scope_key_hash"),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    scope: str = Field(max_length=64)
    key_hash: str = Field(max_length=64)
    fingerprint: str = Field(max_length=64)
    # Null while the first request is in flight; set with `response` when it finishes.
    status_code: int | None = None
    response: bytes | None = Field(default=None, sa_type=LargeBinary)
    # When the running request claimed the key; a claim older than the lease is presumed dead.
    locked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
