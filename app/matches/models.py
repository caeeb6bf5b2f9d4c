"""Matches: a volunteer's offer joined to a need, from proposal or claim to completion, and the
messages its two sides exchange."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints
from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

import app.core.metadata  # noqa: F401  (naming convention first)
from app.core.schema import PROSE, Instant, RequestBody, request_config
from app.core.timeutil import UTCDateTime, utcnow
from app.safety.models import RESOURCES_DESCRIPTION, CrisisResource


class MatchStatus(StrEnum):
    proposed = "proposed"
    accepted = "accepted"
    completed = "completed"
    declined = "declined"
    cancelled = "cancelled"


ACTIVE = (MatchStatus.proposed, MatchStatus.accepted)
_ACTIVE_SQL = "status IN ('proposed', 'accepted')"


class Match(SQLModel, table=True):
    __tablename__ = "matches"
    __table_args__ = (
        # One active match per (need, offer), enforced by the database under any concurrency.
        Index(
            "uq_matches_active_pair",
            "need_id",
            "offer_id",
            unique=True,
            sqlite_where=text(_ACTIVE_SQL),
            postgresql_where=text(_ACTIVE_SQL),
        ),
        # And one per (need, volunteer): a person fills one slot, whichever offer it came through.
        Index(
            "uq_matches_active_volunteer",
            "need_id",
            "volunteer_id",
            unique=True,
            sqlite_where=text(_ACTIVE_SQL),
            postgresql_where=text(_ACTIVE_SQL),
        ),
        Index("ix_matches_offer_id_status", "offer_id", "status"),
        Index("ix_matches_volunteer_id_created_at", "volunteer_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    need_id: uuid.UUID = Field(foreign_key="needs.id", index=True)
    offer_id: uuid.UUID = Field(foreign_key="offers.id")
    # Copied from the need and offer so access checks and history need no joins.
    volunteer_id: uuid.UUID = Field(foreign_key="members.id")
    requester_id: uuid.UUID | None = Field(default=None, foreign_key="members.id", index=True)
    organization_id: uuid.UUID | None = Field(default=None, foreign_key="organizations.id", index=True)
    status: str = Field(max_length=16)
    score: float | None = None
    # A match for one occurrence of a recurring need; None covers the whole series (or a one-off).
    occurrence_start: datetime | None = Field(default=None, sa_type=UTCDateTime)
    proposed_by_member_id: uuid.UUID | None = Field(default=None, foreign_key="members.id")
    proposed_by_key_id: uuid.UUID | None = Field(default=None, foreign_key="api_keys.id")
    version: int = Field(default=1, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MatchCreate(RequestBody):
    model_config = request_config(
        {
            "need_id": "5b1f3c1e-1d5e-4a63-9b7a-1f0e2d3c4b5a",
            "offer_id": "0c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f",
        }
    )

    need_id: uuid.UUID
    offer_id: uuid.UUID
    occurrence_start: Instant | None = Field(
        default=None,
        description="One open occurrence of a recurring need (its start, as GET "
        "/needs/{id}/occurrences lists it); without it the match covers the whole series.",
    )


class Party(SQLModel):
    """The other side, as the match lets you see them: a phone only once accepted."""

    id: uuid.UUID | None
    display_name: str
    phone: str | None = None


class ProposedBy(StrEnum):
    volunteer = "volunteer"  # a claim: the need's side accepts or declines it
    requester = "requester"
    organization = "organization"  # a coordinator, a key or a batch run


class MatchView(SQLModel):
    id: uuid.UUID
    need_id: uuid.UUID
    offer_id: uuid.UUID
    status: MatchStatus
    proposed_by: ProposedBy = Field(description="Who made the match; the other side accepts or declines it.")
    score: float | None
    occurrence_start: datetime | None = Field(
        description="The one occurrence of a recurring need this match is for; null: the whole series."
    )
    volunteer: Party = Field(
        description="Shown to the need's side; phone once accepted. A volunteer the need's side "
        "proposed to, who has not accepted and is not known to it, shows as id null and "
        "display_name 'A volunteer'."
    )
    requester: Party | None = Field(
        default=None, description="Shown to the volunteer once accepted: whom to call (the need's contact)."
    )
    created_at: datetime
    updated_at: datetime
    accepted_at: datetime | None
    closed_at: datetime | None


MESSAGE_MAX_CHARS = 2000


class Message(SQLModel, table=True):
    """A message between the two sides of a match. `body` is None once a moderator removed it."""

    __tablename__ = "match_messages"
    __table_args__ = (Index("ix_match_messages_match_created", "match_id", "created_at", "id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    match_id: uuid.UUID = Field(foreign_key="matches.id")
    author_id: uuid.UUID = Field(foreign_key="members.id")
    body: str | None = Field(default=None, max_length=MESSAGE_MAX_CHARS)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    removed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MessageCreate(RequestBody):
    model_config = request_config({"body": "I can come by on Saturday morning, does that suit you?"})

    body: Annotated[str, StringConstraints(min_length=1, max_length=MESSAGE_MAX_CHARS), PROSE] = Field(
        description=f"The message, 1..{MESSAGE_MAX_CHARS} characters; line breaks allowed."
    )


class MessageSide(StrEnum):
    volunteer = "volunteer"
    need = "need"  # the requester, or the coordinators of an organisation's need


class MessageView(SQLModel):
    id: uuid.UUID
    match_id: uuid.UUID
    author_side: MessageSide = Field(description="Which side of the match wrote it.")
    mine: bool = Field(description="Whether the caller wrote it.")
    body: str | None = Field(description="The text; null once a moderator removed it.")
    removed: bool
    created_at: datetime


class MessageWritten(MessageView):
    """The new message as its author sees it, plus crisis resources for the author alone."""

    resources: list[CrisisResource] = Field(default_factory=list, description=RESOURCES_DESCRIPTION)
