"""What each caller is shown of an activity (allow-lists only), and building it from the row."""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from sqlmodel import Field, SQLModel

from app.activities.models import (
    Activity,
    ActivityKind,
    ActivityStatus,
    ParticipantStatus,
)
from app.core.series import RecurrenceView, recurrence_view
from app.core.types import Point
from app.geo import round_half_km
from app.vocab import Accessibility, Mode

HOST, PARTICIPANT, PUBLIC = "host", "participant", "public"


class _ActivityView(SQLModel):
    """Fields anyone is shown."""

    id: uuid.UUID
    title: str
    description: str | None
    kind: ActivityKind
    mode: Mode
    approx_location: Point | None = Field(
        description="Centre of the activity's coarse cell (about 1 km across); never the exact point."
    )
    starts_at: datetime
    ends_at: datetime
    timezone: str
    recurrence: RecurrenceView | None
    last_ends_at: datetime = Field(description="When the last occurrence ends.")
    occurrence_count: int = Field(description="How many times it takes place (1 unless recurring).")
    capacity: int | None
    confirmed_count: int = Field(description="Confirmed participants.")
    waitlisted_count: int
    accessibility: list[Accessibility]
    languages: list[str]
    organization_id: uuid.UUID | None
    status: ActivityStatus
    # No updated_at: it moves when the address changes, which strangers need not learn.
    created_at: datetime
    my_status: ParticipantStatus | None = Field(
        default=None, description="The caller's own place: confirmed, waitlisted, or none."
    )
    distance_km: float | None = Field(
        default=None, description="With `near`: distance from approx_location, rounded to 0.5 km."
    )


class ActivityPublic(_ActivityView):
    view: Literal["public"] = "public"


class ActivityParticipant(_ActivityView):
    """A confirmed participant: where to go."""

    view: Literal["participant"] = "participant"
    location: Point | None
    address: str | None


class ActivityHost(_ActivityView):
    """The host, and the hosting organisation's coordinators and keys."""

    view: Literal["host"] = "host"
    location: Point | None
    address: str | None
    host_id: uuid.UUID | None
    updated_at: datetime


ActivityView = Annotated[ActivityHost | ActivityParticipant | ActivityPublic, Field(discriminator="view")]


class JoinResult(SQLModel):
    activity_id: uuid.UUID
    status: ParticipantStatus
    joined_at: datetime


class ParticipantItem(SQLModel):
    member_id: uuid.UUID
    display_name: str
    status: ParticipantStatus
    joined_at: datetime


def point(lat: float | None, lon: float | None) -> dict[str, float] | None:
    return {"lat": lat, "lon": lon} if lat is not None and lon is not None else None


def _fields(activity: Activity, my_status: str | None, distance_km: float | None) -> dict[str, Any]:
    data = activity.model_dump()
    data["approx_location"] = point(activity.approx_lat, activity.approx_lon)
    data["location"] = point(activity.lat, activity.lon)
    data["recurrence"] = recurrence_view(activity.recurrence_rule, activity.recurrence_until)
    data["my_status"] = my_status
    data["distance_km"] = round_half_km(distance_km) if distance_km is not None else None
    return data


def render(
    activity: Activity, role: str, my_status: str | None = None, distance_km: float | None = None
) -> ActivityHost | ActivityParticipant | ActivityPublic:
    data = _fields(activity, my_status, distance_km)
    if role == HOST:
        return ActivityHost.model_validate(data)
    if role == PARTICIPANT:
        return ActivityParticipant.model_validate(data)
    return ActivityPublic.model_validate(data)


def render_host(activity: Activity) -> ActivityHost:
    return ActivityHost.model_validate(_fields(activity, None, None))
