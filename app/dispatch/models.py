"""What dispatch reads and answers: candidates for a need, opportunities for an offer, batch runs."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Strict, StrictBool, StrictFloat
from sqlmodel import Field, SQLModel

from app.core.schema import WHOLE_NUMBER, RequestBody, request_config
from app.core.timeutil import UTCDateTime, utcnow
from app.needs.models import NeedPublic
from app.vocab import Category


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
    volunteer: Volunteer | None = Field(
        description="Null unless you act for the need's organisation or the volunteer has had an "
        "accepted or completed match with you; the offer stays addressable by `offer_id`."
    )
    score: float = Field(description="0..1; the weighted sum of `breakdown` (docs/matching.md).")
    distance_km: float | None = Field(
        description="Between coarse cells, rounded to 0.5 km; null for remote help."
    )
    breakdown: dict[str, float]


class Candidates(SQLModel):
    items: list[Candidate]


class Opportunity(NeedPublic):
    score: float
    breakdown: dict[str, float]


class AlertFanout(SQLModel, table=True):
    """A need whose nearby-need alerts are still to be sent: written in the transaction that made
    the need public, deleted in the one that writes its alerts (app.dispatch.fanout). So the
    alerts go out once, after the need commits, and a process that dies in between leaves the
    row for the worker."""

    __tablename__ = "alert_fanouts"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    need_id: uuid.UUID = Field(foreign_key="needs.id", ondelete="CASCADE", index=True)
    # Who made it public (never alerted), or None for an API key. Not a foreign key: erasing
    # the member must not wait on, nor be refused by, an alert still to be sent.
    actor_id: uuid.UUID | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
