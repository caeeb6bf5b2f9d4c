"""Account tables: sessions with their rotating refresh tokens, and one-time mail tokens."""

import uuid
from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

import app.core.metadata  # noqa: F401  (naming convention first)
from app.core.schema import RequestBody, request_config
from app.core.timeutil import UTCDateTime, utcnow
from app.members.models import Email


class MemberSession(SQLModel, table=True):
    """One login: every refresh token rotated from it is of its family, and ends with it."""

    __tablename__ = "member_sessions"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    member_id: uuid.UUID = Field(foreign_key="members.id", ondelete="CASCADE", index=True)
    # Coarse on purpose ("Firefox on Linux"): enough to recognise a device, never the raw header.
    user_agent: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # The last time it was given tokens (a login or a refresh): within an access token's lifetime.
    last_used_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RefreshToken(SQLModel, table=True):
    """Only the sha256 of each token is kept; a rotated one stays, so its reuse is recognised."""

    __tablename__ = "refresh_tokens"

    token_hash: str = Field(primary_key=True, max_length=64)
    session_id: uuid.UUID = Field(foreign_key="member_sessions.id", ondelete="CASCADE", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    rotated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class TokenPurpose(StrEnum):
    password_reset = "password_reset"  # noqa: S105  (a purpose, not a secret)
    verify_email = "verify_email"
    # A new address to verify: the account takes it when the link is followed.
    change_email = "change_email"


class AccountToken(SQLModel, table=True):
    """A one-time link's token (its sha256): used once, before it expires."""

    __tablename__ = "account_tokens"

    token_hash: str = Field(primary_key=True, max_length=64)
    # Null for a reset asked for an address no account has: written all the same, so both
    # answers cost the same work; nothing can ever redeem it.
    member_id: uuid.UUID | None = Field(
        default=None, foreign_key="members.id", ondelete="CASCADE", index=True
    )
    purpose: str = Field(max_length=16)
    # The address the link was sent to: verifying it proves this address, not a later one.
    email: str = Field(max_length=320)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RefreshRequest(RequestBody):
    model_config = request_config({"refresh_token": "rt_..."})

    refresh_token: str = Field(min_length=1, max_length=200)


class PasswordChange(RequestBody):
    model_config = request_config()

    current_password: str = Field(min_length=1, max_length=128)
    new_password: str = Field(min_length=1, max_length=128)


class PasswordResetRequest(RequestBody):
    model_config = request_config({"email": "person@example.org"})

    email: Email


class PasswordResetConfirm(RequestBody):
    model_config = request_config()

    token: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=1, max_length=128)


class EmailChange(RequestBody):
    model_config = request_config({"password": "your current password", "new_email": "new@example.org"})

    password: str = Field(min_length=1, max_length=128, description="The account's current password.")
    new_email: Email = Field(description="Normalised as at sign-up; it must be no other account's.")


class EmailVerification(RequestBody):
    model_config = request_config()

    token: str = Field(min_length=1, max_length=200)


class SessionPublic(SQLModel):
    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime = Field(description="When it last got tokens (login or refresh).")
    user_agent: str = Field(description="Browser family and OS, e.g. `Firefox on Linux`.")
    current: bool = Field(description="The session of the token making this request.")
