"""Members: people who ask for help, offer it, or both."""

import unicodedata
import uuid
from datetime import datetime
from typing import Annotated

import email_validator
import sqlalchemy as sa
from pydantic import AfterValidator, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError
from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

import app.core.metadata  # noqa: F401  (naming convention first)
from app.core.schema import TEXT, PatchBody, RequestBody, request_config, rule_broken
from app.core.timeutil import UTCDateTime, utcnow
from app.core.types import Phone
from app.vocab import Languages


def _reserved(domain: str) -> bool:
    return any(domain == d or domain.endswith("." + d) for d in email_validator.SPECIAL_USE_DOMAIN_NAMES)


def _canonical(local_part: str, domain: str) -> str:
    return unicodedata.normalize("NFC", local_part.lower()) + "@" + domain


def canonical_email(address: str) -> str:
    """The one form in which an address is stored and compared: every way to write the same
    address (Unicode NFC or NFD, an IDNA domain as Unicode or as `xn--`, any case) gives it.

    email-validator normalises (NFC, UTS #46 for the domain, its Unicode form lowercased); the
    local part is then lowercased too. Lowercased, not casefolded: casefolding would make
    `strasse@` and `straße@` one account, and mail systems treat those as two mailboxes, while
    no provider in use tells `Sam@` from `sam@` (RFC 5321 allows it; nobody relies on it).
    Text that is not an address (rows older than the checks) is NFC-normalised and lowercased."""
    try:
        valid = email_validator.validate_email(address, check_deliverability=False)
    except email_validator.EmailNotValidError:
        return unicodedata.normalize("NFC", address.strip().lower())
    return _canonical(valid.local_part, valid.domain)


def _email(address: str) -> str:
    """An address exactly as the schema's `email` format has it (no display name, no spaces),
    answered in its canonical form (`canonical_email`).

    A well-formed address at a reserved domain (`.test`, `.invalid`, ...) can never receive
    mail; the format allows it, so refusing it is a rule, not a schema violation."""
    try:
        valid = email_validator.validate_email(address, check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        if _reserved(address.rpartition("@")[2].lower()):
            raise rule_broken(f"No mail can reach this address: {exc}") from None
        raise PydanticCustomError(
            "value_error", "value is not a valid email address: {reason}", {"reason": str(exc)}
        ) from None
    return _canonical(valid.local_part, valid.domain)


Email = Annotated[
    str,
    StringConstraints(max_length=254),
    AfterValidator(_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": 254}),
]
DisplayName = Annotated[str, StringConstraints(min_length=1, max_length=80), TEXT]
# The schema's floor is the least PASSWORD_MIN_LENGTH may be; the setting's floor and the
# common-password check are rules (app.members.passwords), applied once the body is valid.
Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]


class Member(SQLModel, table=True):
    __tablename__ = "members"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # Always `canonical_email`: one account per address, however it is written.
    email: str = Field(max_length=320, unique=True)
    password_hash: str = Field(max_length=255)
    display_name: str = Field(max_length=80)
    phone: str | None = Field(default=None, max_length=32)
    languages: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # Set by migration 0008 on an account whose address, once normalised, was already an older
    # account's: the older one keeps the address; this one keeps everything else, under a
    # placeholder address no login can produce, until its owner asks for the two to be merged.
    duplicate_of: uuid.UUID | None = Field(default=None, foreign_key="members.id")
    # The address as stored before 0008 rewrote it (so a downgrade restores it exactly).
    email_as_written: str | None = Field(default=None, max_length=320)
    # Platform admins moderate every report and suspend members (`python -m app admin grant`).
    platform_admin: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # Suspended from `suspended_at` until `suspended_until` (for good when None); app.members.suspension.
    suspended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    suspended_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A statement of reasons (app.safety.reporting.Statement): up to 4,000 characters.
    suspension_reason: str | None = Field(default=None, max_length=4000)
    # When the member proved they read mail at `email` (a verification link); null until then.
    email_verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Set when the member erased their account (app.datarights.erasure): the row stays, holding
    # nothing that names them, so what refers to it (audit rows, the other side's matches) keeps
    # a stable pseudonym; no credential of theirs works again (app.auth.standing).
    erased_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MemberCreate(RequestBody):
    model_config = request_config()

    email: Email
    password: Password
    display_name: DisplayName
    phone: Phone | None = None
    languages: Languages = []


class MemberUpdate(PatchBody):
    model_config = request_config()
    clearable = frozenset({"phone"})

    display_name: DisplayName | None = None
    phone: Phone | None = None
    languages: Languages | None = None


class MemberPrivate(SQLModel):
    """What a member sees of themselves."""

    id: uuid.UUID
    email: str
    display_name: str
    phone: str | None
    languages: list[str]
    email_verified: bool = Field(description="Whether the member has followed a verification link.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, member: Member) -> "MemberPrivate":
        return cls.model_validate(
            {**member.model_dump(), "email_verified": member.email_verified_at is not None}
        )


class Token(SQLModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105  (the OAuth2 token type, not a secret)
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str = Field(description="Single use: `POST /v1/auth/refresh` trades it for a new pair.")
