"""Audit trail: who was shown a need's exact location or contact, when, and why."""

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

import app.core.metadata  # noqa: F401  (naming convention first)
from app.core.timeutil import UTCDateTime, utcnow


class Reason(StrEnum):
    coordinator = "coordinator"  # a coordinator of the need's organisation read it
    api_key = "api_key"  # a partner system read it with the organisation's key
    participant = "participant"  # a volunteer with an accepted match read it


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_subject_at", "subject_member_id", "at", "id"),
        Index("ix_audit_events_organization_at", "organization_id", "at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    need_id: uuid.UUID = Field(foreign_key="needs.id")
    subject_member_id: uuid.UUID | None = Field(default=None, foreign_key="members.id")
    organization_id: uuid.UUID | None = None
    actor_member_id: uuid.UUID | None = Field(default=None, foreign_key="members.id")
    actor_key_id: uuid.UUID | None = Field(default=None, foreign_key="api_keys.id")
    actor_name: str = Field(max_length=200)
    fields: list[str] = Field(sa_column=Column(JSON, nullable=False))
    reason: str = Field(max_length=32)


class Actor(SQLModel):
    kind: str = Field(description="`member`, `api_key`, or `need_owner` (a match partner, unnamed)")
    id: uuid.UUID | None
    name: str


class AuditEntry(SQLModel):
    id: uuid.UUID
    at: datetime
    need_id: uuid.UUID
    actor: Actor
    fields: list[str] = Field(
        description="What was shown: location, address, contact, or a volunteer's phone."
    )
    reason: Reason


class AdminAction(SQLModel, table=True):
    """A moderation or platform-admin act: who did what to whom, when, and the reasons given.

    Kept apart from exposures (`AuditEvent`, one row per need shown): these name no need, and
    are read by the platform's operators, never by the member acted on."""

    __tablename__ = "admin_actions"
    __table_args__ = (Index("ix_admin_actions_target_at", "target_member_id", "at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # None when done from the command line (`python -m app admin ...`), by whoever runs it.
    actor_member_id: uuid.UUID | None = Field(default=None, foreign_key="members.id")
    # suspend, reinstate, grant_admin, revoke_admin, resolve_report, appoint_coordinator
    action: str = Field(max_length=32)
    target_member_id: uuid.UUID | None = Field(default=None, foreign_key="members.id")
    report_id: uuid.UUID | None = None
    # The organisation acted on (appoint_coordinator) and a suspension's end (suspend), kept
    # apart from `detail` so a reason of the full 4,000 characters still fits.
    organization_id: uuid.UUID | None = None
    until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    detail: str = Field(default="", max_length=4000)  # the reason or statement given
