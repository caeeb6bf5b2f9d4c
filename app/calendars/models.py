"""A member's calendar feed (its token, kept only as a hash) and the reminders already sent."""

import uuid
from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

import app.core.metadata  # noqa: F401  (naming convention first)
from app.core.timeutil import UTCDateTime, utcnow


class CalendarFeed(SQLModel, table=True):
    """One feed per member: creating another replaces the token, so the old URL stops at once."""

    __tablename__ = "calendar_feeds"

    member_id: uuid.UUID = Field(foreign_key="members.id", primary_key=True, ondelete="CASCADE")
    # sha256 of the URL's token: 256 random bits, so a fast hash is enough (app.core.security).
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Subject(StrEnum):
    need = "need"  # an occurrence of a need with accepted matches
    activity = "activity"


class OccurrenceReminder(SQLModel, table=True):
    """An `occurrence.reminder` sent: the primary key is what makes it once per occurrence per
    member, whichever worker process gets there first (INSERT ... ON CONFLICT DO NOTHING)."""

    __tablename__ = "occurrence_reminders"

    member_id: uuid.UUID = Field(foreign_key="members.id", primary_key=True, ondelete="CASCADE")
    subject_type: str = Field(max_length=16, primary_key=True)
    subject_id: uuid.UUID = Field(primary_key=True)
    occurrence_start: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    sent_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class FeedCreated(SQLModel):
    url: str = Field(
        description="The feed's address, with its secret token: shown in this answer only. A "
        "calendar app subscribes to it without logging in; creating a feed again replaces it."
    )
    created_at: datetime


class FeedState(SQLModel):
    created_at: datetime = Field(description="When the current feed URL was made (never the URL).")
