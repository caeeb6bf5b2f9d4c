"""Activities (group gatherings) and their participants: the tables and the request bodies."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Strict, StringConstraints
from pydantic.config import JsonDict
from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

import app.core.metadata  # noqa: F401  (naming convention first)
from app.core import recurrence
from app.core.schema import (
    PROSE,
    TEXT,
    WHOLE_NUMBER,
    Instant,
    PatchBody,
    RequestBody,
    request_config,
)
from app.core.series import Recurrence
from app.core.timeutil import UTCDateTime, utcnow
from app.core.types import Point, Timezone
from app.vocab import AccessibilityFeatures, Languages, Mode


class ActivityKind(StrEnum):
    walk = "walk"
    support_group = "support_group"
    shift = "shift"
    garden = "garden"
    clean_up = "clean_up"
    workshop = "workshop"
    social = "social"
    other = "other"


class ActivityStatus(StrEnum):
    open = "open"
    cancelled = "cancelled"


class ParticipantStatus(StrEnum):
    confirmed = "confirmed"
    waitlisted = "waitlisted"


class Activity(SQLModel, table=True):
    __tablename__ = "activities"
    __table_args__ = (
        # The counter every join and leave moves, under the activity's row lock; this is the backstop.
        CheckConstraint(
            "confirmed_count >= 0 AND (capacity IS NULL OR confirmed_count <= capacity)", name="capacity"
        ),
        CheckConstraint("waitlisted_count >= 0", name="waitlist"),
        Index("ix_activities_starts_at_id", "starts_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # None when an organisation's API key created it: the organisation hosts.
    host_id: uuid.UUID | None = Field(default=None, foreign_key="members.id", index=True)
    organization_id: uuid.UUID | None = Field(default=None, foreign_key="organizations.id", index=True)
    title: str = Field(max_length=200)
    description: str | None = Field(default=None, sa_type=Text)
    kind: str = Field(max_length=32, index=True)
    mode: str = Field(max_length=16)
    lat: float | None = None
    lon: float | None = None
    address: str | None = Field(default=None, max_length=500)
    approx_lat: float | None = None
    approx_lon: float | None = None
    h3_r4: int | None = Field(default=None, sa_type=BigInteger, index=True)
    h3_r6: int | None = Field(default=None, sa_type=BigInteger, index=True)
    h3_r8: int | None = Field(default=None, sa_type=BigInteger, index=True)
    # The first occurrence; a recurring activity repeats it by `recurrence_rule` in `timezone`.
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    timezone: str = Field(max_length=64)
    recurrence_rule: str | None = Field(default=None, max_length=recurrence.MAX_TEXT)
    recurrence_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When the last occurrence ends: lists filter on the series' whole span.
    last_ends_at: datetime = Field(sa_type=UTCDateTime, index=True)
    occurrence_count: int = 1
    capacity: int | None = None
    confirmed_count: int = 0
    waitlisted_count: int = 0
    accessibility: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    accessibility_mask: int = 0  # app.bit_numbers.ACCESSIBILITY
    languages: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=ActivityStatus.open, max_length=16, index=True)
    version: int = Field(default=1, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Participant(SQLModel, table=True):
    """One member's place in an activity. `seq` is the arrival order (the waitlist's order)."""

    __tablename__ = "activity_participants"
    __table_args__ = (
        UniqueConstraint("activity_id", "member_id", name="uq_activity_participants_activity_member"),
        Index("ix_activity_participants_activity_status_seq", "activity_id", "status", "seq"),
    )

    # An integer key the database assigns (SQLite rowid, a Postgres identity): arrival order.
    seq: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    activity_id: uuid.UUID = Field(foreign_key="activities.id", ondelete="CASCADE")
    member_id: uuid.UUID = Field(foreign_key="members.id", index=True)
    status: str = Field(max_length=16)
    joined_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


Title = Annotated[str, StringConstraints(min_length=1, max_length=200), TEXT]
Description = Annotated[str, StringConstraints(max_length=4000), PROSE]
Address = Annotated[str, StringConstraints(min_length=1, max_length=500), PROSE]
Capacity = Annotated[int, Strict(), Field(ge=1, le=10000), WHOLE_NUMBER]


_CREATE_EXAMPLE: JsonDict = {
    "title": "Saturday litter pick",
    "kind": "clean_up",
    "mode": "in_person",
    "location": {"lat": 51.5074, "lon": -0.1278},
    "address": "Meet at the park gate, Example Road",
    "starts_at": "2027-01-09T10:00:00Z",
    "ends_at": "2027-01-09T12:00:00Z",
    "timezone": "Europe/London",
    "recurrence": {"rule": "FREQ=WEEKLY;BYDAY=SA;COUNT=10"},
    "capacity": 12,
    "accessibility": ["step_free"],
    "languages": ["en"],
}


class ActivityCreate(RequestBody):
    model_config = request_config(_CREATE_EXAMPLE)

    title: Title
    description: Description | None = None
    kind: ActivityKind
    mode: Mode
    location: Point | None = Field(default=None, description="Required for in_person.")
    address: Address | None = None
    starts_at: Instant = Field(description="Start of the first occurrence.")
    ends_at: Instant = Field(description="End of the first occurrence.")
    timezone: Timezone
    recurrence: Recurrence | None = None
    capacity: Capacity | None = Field(default=None, description="Confirmed places; none means no limit.")
    accessibility: AccessibilityFeatures = []
    languages: Languages = []
    organization_id: uuid.UUID | None = None


class ActivityUpdate(PatchBody):
    """Every field optional; what is sent replaces what was there."""

    clearable = frozenset({"description", "location", "address", "recurrence", "capacity"})

    title: Title | None = None
    description: Description | None = None
    kind: ActivityKind | None = None
    mode: Mode | None = None
    location: Point | None = None
    address: Address | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    timezone: Timezone | None = None
    recurrence: Recurrence | None = None
    capacity: Capacity | None = None
    accessibility: AccessibilityFeatures | None = None
    languages: Languages | None = None
