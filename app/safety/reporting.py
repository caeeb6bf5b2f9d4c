"""Reports and moderation decisions: the table, the request bodies and the views each reader gets.

Views are allow-lists. No view a reported member can reach names the reporter: the reporter's own
view is theirs alone, the organisation queue's view has no reporter field, and a platform admin's
view (which names the reporter, to spot abuse of reporting) never lists reports about that admin.
"""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints
from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

import app.core.metadata  # noqa: F401  (naming convention first)
from app.core.schema import PROSE, RequestBody, request_config
from app.core.timeutil import UTCDateTime, utcnow


class SubjectType(StrEnum):
    member = "member"
    need = "need"
    offer = "offer"
    match = "match"
    message = "message"
    activity = "activity"


class ReportReason(StrEnum):
    harassment = "harassment"
    spam = "spam"
    unsafe = "unsafe"
    impersonation = "impersonation"
    other = "other"


class ReportStatus(StrEnum):
    open = "open"
    resolved = "resolved"


class Action(StrEnum):
    dismiss = "dismiss"  # no breach found; nothing changes
    warn = "warn"  # the member is told; nothing else changes
    remove = "remove"  # the subject goes: need cancelled, offer paused, match cancelled, member suspended
    suspend = "suspend"  # the member behind the subject is suspended (platform admins only)


class Report(SQLModel, table=True):
    __tablename__ = "reports"
    __table_args__ = (
        Index("ix_reports_reporter_created", "reporter_id", "created_at", "id"),
        Index("ix_reports_organization_created", "organization_id", "created_at", "id"),
        Index("ix_reports_subject_member", "subject_member_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    reporter_id: uuid.UUID = Field(foreign_key="members.id")
    subject_type: str = Field(max_length=16)
    subject_id: uuid.UUID
    # Taken from the subject when reported: the member it is about (told the decision) and the
    # organisation whose queue it joins (a member subject joins the queues of their organisations).
    subject_member_id: uuid.UUID | None = Field(default=None, foreign_key="members.id")
    organization_id: uuid.UUID | None = Field(default=None, foreign_key="organizations.id")
    reason: str = Field(max_length=16)
    detail: str | None = Field(default=None, sa_type=Text)
    status: str = Field(default=ReportStatus.open, max_length=16)
    action: str | None = Field(default=None, max_length=16)
    # The statement of reasons (DSA art. 17 style): what was decided, on what facts, and why.
    statement: str | None = Field(default=None, sa_type=Text)
    resolved_by: uuid.UUID | None = Field(default=None, foreign_key="members.id")
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


Detail = Annotated[str, StringConstraints(min_length=1, max_length=4000), PROSE]
Statement = Annotated[str, StringConstraints(min_length=1, max_length=4000), PROSE]


class ReportCreate(RequestBody):
    model_config = request_config(
        {"subject_type": "need", "subject_id": "0b7e3c1e-8f4a-4f57-9c43-5d2f1c0a9e11", "reason": "spam"}
    )

    subject_type: SubjectType
    subject_id: uuid.UUID
    reason: ReportReason
    detail: Detail | None = None


class ReportResolve(RequestBody):
    model_config = request_config({"action": "warn", "statement": "The offer's note insulted requesters."})

    action: Action
    statement: Statement


class ReportPublic(SQLModel):
    """What the reporter sees of their report, the decision and its reasons included."""

    id: uuid.UUID
    subject_type: SubjectType
    subject_id: uuid.UUID
    reason: ReportReason
    detail: str | None
    status: ReportStatus
    action: Action | None
    statement: str | None
    created_at: datetime
    resolved_at: datetime | None


class ReportDecision(SQLModel):
    """What the member a report was about reads of a decision on it (not a dismissal): the
    action and its statement of reasons; never who reported, nor what they wrote."""

    id: uuid.UUID
    subject_type: SubjectType
    subject_id: uuid.UUID
    status: ReportStatus
    action: Action | None
    statement: str | None
    resolved_at: datetime | None


class ReportQueued(ReportPublic):
    """A report in an organisation's queue: who it is about, never who made it."""

    subject_member_id: uuid.UUID | None


class ReportAdmin(ReportQueued):
    """A platform admin's view: the reporter too, to spot reporting used as harassment."""

    reporter_id: uuid.UUID
