"""Offers (what volunteers can give): the table, the request bodies and the owner's view."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    Strict,
    StrictFloat,
    StringConstraints,
    model_validator,
)
from pydantic.config import JsonDict
from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, Index, Text
from sqlmodel import Field, SQLModel

import app.core.metadata  # noqa: F401  (naming convention first)
from app.core.schema import PROSE, WHOLE_NUMBER, PatchBody, RequestBody, request_config, rule_broken
from app.core.timeutil import UTCDateTime, utcnow
from app.core.types import Point, Timezone
from app.matching.masks import ALL
from app.vocab import Capabilities, Category, Languages, Mode, unique


class OfferStatus(StrEnum):
    active = "active"
    paused = "paused"


class Day(StrEnum):
    mon = "mon"
    tue = "tue"
    wed = "wed"
    thu = "thu"
    fri = "fri"
    sat = "sat"
    sun = "sun"


HHMM = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")]


class Slot(SQLModel):
    """A weekly window, in the offer's timezone."""

    model_config = request_config()

    day: Day
    start: HHMM = Field(schema_extra={"examples": ["18:00"]})
    end: HHMM = Field(schema_extra={"examples": ["20:30"]})

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise rule_broken("end must be after start")
        return self


Categories = Annotated[list[Category], Field(min_length=1, max_length=len(Category)), AfterValidator(unique)]
Modes = Annotated[list[Mode], Field(min_length=1, max_length=len(Mode)), AfterValidator(unique)]
MaxDistance = Annotated[StrictFloat, Field(gt=0, le=200)]
Capacity = Annotated[int, Strict(), Field(ge=1, le=50), WHOLE_NUMBER]
Availability = Annotated[list[Slot], Field(max_length=50)]
Note = Annotated[str, StringConstraints(max_length=1000), PROSE]


_UNKNOWN: dict[str, Any] = {"server_default": str(ALL)}


class Offer(SQLModel, table=True):
    __tablename__ = "offers"
    __table_args__ = (
        Index("ix_offers_volunteer_id_created_at_id", "volunteer_id", "created_at", "id"),
        CheckConstraint("active_matches >= 0 AND active_matches <= capacity", name="capacity"),
        # Candidate search asks how far the furthest-reaching active offer goes.
        Index("ix_offers_status_max_distance_km", "status", "max_distance_km"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    volunteer_id: uuid.UUID = Field(foreign_key="members.id")
    organization_id: uuid.UUID | None = Field(default=None, foreign_key="organizations.id", index=True)
    categories: list[str] = Field(sa_column=Column(JSON, nullable=False))
    modes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    # Bit masks of the lists, for one-AND filters in SQL (app.vocab.mask).
    categories_mask: int = 0
    modes_mask: int = 0
    capabilities_mask: int = 0
    lat: float
    lon: float
    # The volunteer's coarse cell: what matching measures distances from, never the home itself.
    approx_lat: float
    approx_lon: float
    h3_r4: int = Field(sa_type=BigInteger, index=True)
    h3_r6: int = Field(sa_type=BigInteger, index=True)
    h3_r8: int = Field(sa_type=BigInteger, index=True)
    max_distance_km: float = 5.0
    availability: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    timezone: str = Field(default="UTC", max_length=64)
    capacity: int = 1
    # Accepted matches in progress: the database keeps it <= capacity.
    active_matches: int = 0
    languages: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    capabilities: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Superset tests SQL applies before the exact filters (app.matching.masks): the languages,
    # and the hours of the UTC week the slots may fall in. -1 passes every test, so a row
    # written without them is still found, only less cheaply.
    languages_mask: int = Field(default=ALL, sa_type=BigInteger, sa_column_kwargs={"server_default": "-1"})
    availability_mask_0: int = Field(
        default=ALL, sa_type=BigInteger, sa_column_kwargs={"server_default": "-1"}
    )
    availability_mask_1: int = Field(
        default=ALL, sa_type=BigInteger, sa_column_kwargs={"server_default": "-1"}
    )
    availability_mask_2: int = Field(
        default=ALL, sa_type=BigInteger, sa_column_kwargs={"server_default": "-1"}
    )
    note: str | None = Field(default=None, sa_type=Text)
    status: str = Field(default=OfferStatus.active, max_length=16, index=True)
    version: int = Field(default=1, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


_OFFER_CREATE_EXAMPLE: JsonDict = {
    "categories": ["groceries", "companionship"],
    "modes": ["in_person", "remote"],
    "location": {"lat": 51.51, "lon": -0.12},
    "max_distance_km": 3,
    "availability": [{"day": "sat", "start": "10:00", "end": "13:00"}],
    "timezone": "Europe/London",
    "capacity": 2,
    "languages": ["en", "es"],
    "capabilities": ["car"],
}


class OfferCreate(RequestBody):
    model_config = request_config(_OFFER_CREATE_EXAMPLE)

    categories: Categories
    modes: Modes
    location: Point
    max_distance_km: MaxDistance = 5.0
    availability: Availability = []
    timezone: Timezone = "UTC"
    capacity: Capacity = 1
    languages: Languages = []
    capabilities: Capabilities = []
    note: Note | None = None
    organization_id: uuid.UUID | None = None


class OfferUpdate(PatchBody):
    """Every field optional; `status` pauses or resumes the offer."""

    model_config = request_config()
    clearable = frozenset({"note"})

    categories: Categories | None = None
    modes: Modes | None = None
    location: Point | None = None
    max_distance_km: MaxDistance | None = None
    availability: Availability | None = None
    timezone: Timezone | None = None
    capacity: Capacity | None = None
    languages: Languages | None = None
    capabilities: Capabilities | None = None
    note: Note | None = None
    status: OfferStatus | None = None


class OfferOrganization(SQLModel):
    """What the offer's organisation (its coordinators and keys) sees: never the location."""

    view: Literal["organization"] = "organization"
    id: uuid.UUID
    volunteer_id: uuid.UUID
    organization_id: uuid.UUID | None
    categories: list[Category]
    modes: list[Mode]
    max_distance_km: float
    availability: list[Slot]
    timezone: str
    capacity: int
    active_matches: int
    languages: list[str]
    capabilities: list[str]
    note: str | None
    status: OfferStatus
    created_at: datetime
    updated_at: datetime


class OfferOwner(OfferOrganization):
    """The volunteer's own view; the only one that shows the offer's location."""

    view: Literal["owner"] = "owner"  # type: ignore[assignment]
    location: Point


OfferView = Annotated[OfferOwner | OfferOrganization, Field(discriminator="view")]
