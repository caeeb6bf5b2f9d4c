"""Needs (requests for help): the table, the request bodies and the three views."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import Strict, StrictFloat, StringConstraints, model_validator
from pydantic.config import JsonDict
from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, Index, Text, UniqueConstraint, func
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Field, SQLModel, col

import app.core.metadata  # noqa: F401  (naming convention first)
from app.core import recurrence
from app.core.schema import (
    PROSE,
    TEXT,
    WHOLE_NUMBER,
    PatchBody,
    RequestBody,
    WindowTime,
    request_config,
    rule_broken,
)
from app.core.series import Recurrence, RecurrenceView
from app.core.timeutil import UTCDateTime, utcnow
from app.core.types import Phone, Point, Timezone
from app.safety.models import RESOURCES_DESCRIPTION, CrisisResource
from app.vocab import Capabilities, Category, Languages, Mode, Urgency


class NeedStatus(StrEnum):
    open = "open"
    matched = "matched"
    fulfilled = "fulfilled"
    cancelled = "cancelled"
    expired = "expired"


class Visibility(StrEnum):
    public = "public"
    organization = "organization"


class Approval(StrEnum):
    """Who lets a volunteer's claim through: the need's side (`requester`), or nobody (`automatic`,
    which only an organisation may choose, for needs it stands behind)."""

    requester = "requester"
    automatic = "automatic"


class Contact(SQLModel):
    model_config = request_config()

    name: Annotated[str, StringConstraints(min_length=1, max_length=100), TEXT]
    phone: Phone


class ContactView(SQLModel):
    """A need's contact as stored, in the owner and participant views. Not the request's model:
    a stored name or phone is shown as it was accepted, and never checked again against rules
    tightened since (a name with a control character, accepted before they were refused, made
    every read and list of that need a 500)."""

    name: str
    phone: str


class Need(SQLModel, table=True):
    __tablename__ = "needs"
    __table_args__ = (
        UniqueConstraint("organization_id", "external_id", name="uq_needs_organization_id_external_id"),
        Index("ix_needs_created_at_id", "created_at", "id"),
        CheckConstraint(
            "volunteers_accepted >= 0 AND volunteers_accepted <= volunteers_needed", name="slots"
        ),
        CheckConstraint(
            "volunteers_completed >= 0 AND volunteers_completed <= volunteers_accepted", name="completed"
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # The member who asked for themselves, and owns the need; None when an organisation's
    # coordinator or key filed it for someone (see `contact`): the organisation owns it then.
    requester_id: uuid.UUID | None = Field(default=None, foreign_key="members.id", index=True)
    # Who typed a need filed for the organisation: a record, never a right (app.needs.service.role_of).
    filed_by_member_id: uuid.UUID | None = Field(default=None, foreign_key="members.id")
    filed_by_key_id: uuid.UUID | None = Field(default=None, foreign_key="api_keys.id")
    organization_id: uuid.UUID | None = Field(default=None, foreign_key="organizations.id", index=True)
    external_id: str | None = Field(default=None, max_length=200)
    category: str = Field(max_length=32, index=True)
    title: str = Field(max_length=200)
    description: str | None = Field(default=None, sa_type=Text)
    urgency: str = Field(max_length=16)
    mode: str = Field(max_length=16)
    lat: float | None = None
    lon: float | None = None
    address: str | None = Field(default=None, max_length=500)
    contact_name: str | None = Field(default=None, max_length=100)
    contact_phone: str | None = Field(default=None, max_length=32)
    # The public stand-in for the location, and its cells at the indexed resolutions.
    approx_lat: float | None = None
    approx_lon: float | None = None
    h3_r4: int | None = Field(default=None, sa_type=BigInteger, index=True)
    h3_r6: int | None = Field(default=None, sa_type=BigInteger, index=True)
    h3_r8: int | None = Field(default=None, sa_type=BigInteger, index=True)
    # How far a volunteer may come from, if the requester limits it (kilometres).
    max_distance_km: float | None = None
    volunteers_needed: int = 1
    # Slots taken by accepted (and then completed) matches: the database keeps it <= needed.
    volunteers_accepted: int = 0
    volunteers_completed: int = 0
    window_start: datetime | None = Field(default=None, sa_type=UTCDateTime)
    window_end: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A recurring need: the window is its first occurrence, repeated by `recurrence_rule` on the
    # wall clock of `timezone` (app/needs/occurrences.py). `last_starts_at` bounds the series as it
    # was accepted (the limits may change later); `last_ends_at` is when its last occurrence not
    # cancelled ends, which is when the need closes (`closes_at`). Cancelled starts are UTC ISO texts.
    timezone: str | None = Field(default=None, max_length=64)
    recurrence_rule: str | None = Field(default=None, max_length=recurrence.MAX_TEXT)
    recurrence_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_starts_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_ends_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled_occurrences: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    languages: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    requirements: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    requirements_mask: int = 0
    visibility: str = Field(default=Visibility.public, max_length=16)
    approval: str = Field(
        default=Approval.requester, max_length=16, sa_column_kwargs={"server_default": "requester"}
    )
    status: str = Field(default=NeedStatus.open, max_length=16, index=True)
    version: int = Field(default=1, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class OccurrenceSlots(SQLModel, table=True):
    """Slots of one occurrence of a recurring need taken by matches naming that occurrence.

    A match for the whole series takes a slot in every occurrence (`Need.volunteers_accepted`);
    one naming an occurrence takes a slot in that one alone, counted here. Both counts move only
    under the need's row lock (app/needs/slots.py), by conditional UPDATEs that keep series plus
    occurrence within `volunteers_needed`. `occurrence_end` lets the series' check skip ended ones.
    """

    __tablename__ = "need_occurrence_slots"
    __table_args__ = (CheckConstraint("accepted >= 0", name="accepted"),)

    need_id: uuid.UUID = Field(foreign_key="needs.id", primary_key=True, ondelete="CASCADE")
    occurrence_start: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    occurrence_end: datetime = Field(sa_type=UTCDateTime, nullable=False)
    accepted: int = Field(default=0, nullable=False)


def closes_at(need: Need) -> datetime | None:
    """When the need stops being open by the clock: its last occurrence's end, or its window's."""
    return need.last_ends_at if need.last_ends_at is not None else need.window_end


def closes_at_sql() -> ColumnElement[datetime]:
    """`closes_at` in SQL: every search of open needs filters on this one expression."""
    out: ColumnElement[datetime] = func.coalesce(col(Need.last_ends_at), col(Need.window_end))
    return out


Title = Annotated[str, StringConstraints(min_length=1, max_length=200), TEXT]
Description = Annotated[str, StringConstraints(max_length=4000), PROSE]
Address = Annotated[str, StringConstraints(min_length=1, max_length=500), PROSE]
VolunteersNeeded = Annotated[int, Strict(), Field(ge=1, le=50), WHOLE_NUMBER]
Reach = Annotated[StrictFloat, Field(gt=0, le=200, description="Furthest a volunteer may come from, in km.")]


class NeedFields(RequestBody):
    """What a requester may set; shared by create and update."""

    model_config = request_config()

    def shape_problem(self) -> str | None:
        """What is wrong with how the fields go together, if anything."""
        mode = getattr(self, "mode", None)
        if mode == Mode.in_person and getattr(self, "location", None) is None:
            return "location is required for in_person help"
        start, end = getattr(self, "window_start", None), getattr(self, "window_end", None)
        if start is not None and end is not None and end <= start:
            return "window_end must be after window_start"
        if getattr(self, "recurrence", None) is not None:
            if start is None or end is None:
                return "a recurring need needs window_start and window_end (its first occurrence)"
            if getattr(self, "timezone", None) is None:
                return "a recurring need needs a timezone (IANA), whose wall clock it repeats on"
        return None


_NEED_CREATE_EXAMPLE: JsonDict = {
    "category": "groceries",
    "title": "Weekly shop from the corner store",
    "description": "Milk, bread, fruit; I can pay on delivery.",
    "urgency": "normal",
    "mode": "in_person",
    "location": {"lat": 51.5074, "lon": -0.1278},
    "address": "Flat 2, 10 Example Street",
    "contact": {"name": "Sam", "phone": "+44 20 7946 0000"},
    "volunteers_needed": 1,
    "languages": ["en"],
    "requirements": ["car"],
}


class NeedCreate(NeedFields):
    model_config = request_config(_NEED_CREATE_EXAMPLE)

    category: Category
    title: Title
    description: Description | None = None
    urgency: Urgency = Urgency.normal
    mode: Mode = Mode.in_person
    location: Point | None = None
    address: Address | None = None
    contact: Contact | None = None
    volunteers_needed: VolunteersNeeded = 1
    max_distance_km: Reach | None = None
    window_start: WindowTime | None = None
    window_end: WindowTime | None = None
    timezone: Timezone | None = None
    recurrence: Recurrence | None = Field(
        default=None,
        description="Repeats the window (its first occurrence) in `timezone`; docs/recurrence.md.",
    )
    languages: Languages = []
    requirements: Capabilities = []
    visibility: Visibility = Visibility.public
    approval: Approval = Approval.requester
    organization_id: uuid.UUID | None = None
    external_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None

    @model_validator(mode="after")
    def _shape(self) -> Self:
        problem = self.shape_problem()
        if problem is not None:
            raise rule_broken(problem)
        return self


class NeedUpdate(PatchBody, NeedFields):
    """Every field optional; what is sent replaces what was there."""

    clearable = frozenset(
        {
            "description",
            "location",
            "address",
            "contact",
            "window_start",
            "window_end",
            "timezone",
            "recurrence",
        }
    )

    category: Category | None = None
    title: Title | None = None
    description: Description | None = None
    urgency: Urgency | None = None
    mode: Mode | None = None
    location: Point | None = None
    address: Address | None = None
    contact: Contact | None = None
    volunteers_needed: VolunteersNeeded | None = None
    max_distance_km: Reach | None = None
    window_start: WindowTime | None = None
    window_end: WindowTime | None = None
    timezone: Timezone | None = None
    recurrence: Recurrence | None = None
    languages: Languages | None = None
    requirements: Capabilities | None = None
    visibility: Visibility | None = None
    approval: Approval | None = None


class _NeedView(SQLModel):
    """Fields anyone who may see the need at all is shown."""

    id: uuid.UUID
    category: Category
    title: str
    description: str | None
    urgency: Urgency
    mode: Mode
    approx_location: Point | None = Field(
        description="Centre of the need's coarse cell (about 1 km across); never the exact point."
    )
    volunteers_needed: int
    max_distance_km: float | None = None
    window_start: datetime | None
    window_end: datetime | None
    timezone: str | None
    recurrence: RecurrenceView | None = Field(
        description="The window repeats by this rule in `timezone`; see /needs/{id}/occurrences."
    )
    next_occurrence_start: datetime | None = Field(
        description="A recurring need's next open occurrence (what matching uses); null once none is left."
    )
    languages: list[str]
    requirements: list[str]
    visibility: Visibility
    approval: Approval = Field(
        description="`automatic`: a volunteer's claim is accepted at once (organisations only); "
        "`requester`: the need's side accepts or declines each claim."
    )
    organization_id: uuid.UUID | None
    status: NeedStatus
    # No `updated_at` here: it moves when private fields (address, contact) change, which would
    # tell a stranger that someone edited them. Status changes show in `status` itself.
    created_at: datetime
    distance_km: float | None = Field(
        default=None, description="With `near`: distance from approx_location, rounded to 0.5 km."
    )


class NeedPublic(_NeedView):
    view: Literal["public"] = "public"


class NeedParticipant(_NeedView):
    """A volunteer with an accepted match: where to go and whom to call."""

    view: Literal["participant"] = "participant"
    updated_at: datetime
    location: Point | None
    address: str | None
    contact: ContactView | None


class FiledBy(SQLModel):
    """Who filed a need for its organisation."""

    kind: Literal["member", "api_key"] = Field(
        description="`member`: a coordinator of the organisation at the time; `api_key`: one of its keys."
    )
    id: uuid.UUID = Field(description="The member's id, or the API key's id (as listed under api-keys).")


class NeedOwner(_NeedView):
    view: Literal["owner"] = "owner"
    updated_at: datetime
    location: Point | None
    address: str | None
    contact: ContactView | None
    requester_id: uuid.UUID | None = Field(
        description="The member who asked for themselves and owns the need; null when the "
        "organisation owns it (filed for someone, see `filed_by`)."
    )
    filed_by: FiledBy | None = Field(
        description="For a need filed for someone: who filed it for the organisation. A record only: "
        "the organisation owns the need, and a member who filed it has owner rights only while a "
        "coordinator of it. Null for a member's own need, and for needs a key filed before this "
        "was recorded."
    )
    external_id: str | None
    volunteers_accepted: int


NeedView = Annotated[NeedOwner | NeedParticipant | NeedPublic, Field(discriminator="view")]


class NeedWritten(NeedOwner):
    """The owner view a create or an edit answers with, plus crisis resources for its author."""

    resources: list[CrisisResource] = Field(default_factory=list, description=RESOURCES_DESCRIPTION)


class OccurrenceStatus(StrEnum):
    open = "open"
    past = "past"  # it has ended
    cancelled = "cancelled"  # that occurrence alone, or the whole need


class OccurrenceView(SQLModel):
    start: datetime
    end: datetime
    status: OccurrenceStatus = Field(
        description="`past`: it has ended; `cancelled`: that occurrence alone, or the whole need."
    )


class OccurrenceList(SQLModel):
    items: list[OccurrenceView]
