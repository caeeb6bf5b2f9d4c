"""Matches: a volunteer's offer joined to a need, from proposal or claim to completion."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Strict, StrictBool, StrictFloat
from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

import app.core.metadata  # noqa: F401  (naming convention first)
from app.core.schema import WHOLE_NUMBER, RequestBody, request_config
from app.core.timeutil import UTCDateTime, utcnow
from app.vocab import Category


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


class Party(SQLModel):
    """The other side, as the match lets you see them: a phone only once accepted."""

    id: uuid.UUID | None
    display_name: str
    phone: str | None = None


class MatchView(SQLModel):
    id: uuid.UUID
    need_id: uuid.UUID
    offer_id: uuid.UUID
    status: MatchStatus
    score: float | None
    volunteer: Party = Field(description="Shown to the need's side; phone once accepted.")
    requester: Party | None = Field(
        default=None, description="Shown to the volunteer once accepted: whom to call (the need's contact)."
    )
    created_at: datetime
    updated_at: datetime
    accepted_at: datetime | None
    closed_at: datetime | None


class Area(SQLModel):
    model_config = request_config()

    lat: StrictFloat = Field(ge=-90, le=90)
    lon: StrictFloat = Field(ge=-180, le=180)
    radius_km: StrictFloat = Field(gt=0, le=500)


class RunRequest(RequestBody):
    model_config = request_config(
        {"area": {"lat": 51.5, "lon": -0.12, "radius_km": 5}, "categories": ["groceries"], "dry_run": True}
    )

    organization_id: uuid.UUID | None = None
    area: Area | None = None
    categories: list[Category] | None = Field(default=None, max_length=len(Category))
    dry_run: StrictBool = True
    candidates_per_need: Annotated[int, Strict(), Field(ge=1, le=1000), WHOLE_NUMBER] | None = Field(
        default=None,
        description="Keep only each need's k best pairs: faster on large runs, optimal over that "
        "smaller graph. Unset: every eligible pair, the exact optimum.",
    )


class RunAssignment(SQLModel):
    need_id: uuid.UUID
    offer_id: uuid.UUID
    score: float
    distance_km: float | None


class RunStats(SQLModel):
    needs: int
    offers: int
    candidate_pairs: int
    objective: float = Field(description="Sum over assignments of score x urgency weight x (1 + waiting).")
    elapsed_ms: float


class RunResult(SQLModel):
    assignments: list[RunAssignment]
    unmatched_need_ids: list[uuid.UUID]
    stats: RunStats
    dry_run: bool


class Volunteer(SQLModel):
    id: uuid.UUID
    display_name: str


class Candidate(SQLModel):
    offer_id: uuid.UUID
    volunteer: Volunteer
    score: float = Field(description="0..1; the weighted sum of `breakdown` (docs/matching.md).")
    distance_km: float | None = Field(
        description="Between coarse cells, rounded to 0.5 km; null for remote help."
    )
    breakdown: dict[str, float]


class Candidates(SQLModel):
    items: list[Candidate]
