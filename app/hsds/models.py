"""The HSDS 3.0 objects this feed emits: the subset of the schemas' fields it fills.

Field names and types are HSDS's own (schema/compiled in the specification); absent values are
left out of the answer rather than sent as null, which HSDS's types do not allow.
"""

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class HsdsOrganization(BaseModel):
    id: str
    name: str
    description: str


class HsdsLanguage(BaseModel):
    id: str
    service_id: str
    code: str = Field(description="ISO 639-1.")


class HsdsSchedule(BaseModel):
    id: str
    service_id: str
    valid_from: str | None = None
    valid_to: str | None = None
    dtstart: str | None = None
    timezone: float | None = Field(default=None, description="UTC offset of the first occurrence, hours.")
    until: str | None = None
    count: int | None = None
    wkst: str | None = None
    freq: str | None = None
    interval: int | None = None
    byday: str | None = None
    bymonthday: str | None = None
    description: str | None = None
    opens_at: str | None = None
    closes_at: str | None = None
    attending_type: str | None = None
    notes: str | None = None


class HsdsAccessibility(BaseModel):
    id: str
    location_id: str
    description: str
    details: str


class HsdsLocation(BaseModel):
    id: str
    location_type: str
    name: str | None = None
    latitude: float | None = Field(default=None, description="The coarse cell's centre, never the place.")
    longitude: float | None = None
    accessibility: list[HsdsAccessibility] = []


class HsdsServiceAtLocation(BaseModel):
    id: str
    service_id: str
    location_id: str
    location: HsdsLocation


class HsdsService(BaseModel):
    id: str
    organization_id: str
    name: str
    description: str
    status: str
    last_modified: str
    languages: list[HsdsLanguage]
    schedules: list[HsdsSchedule]
    service_at_locations: list[HsdsServiceAtLocation]


class HsdsPage(BaseModel, Generic[T]):
    """HSDS's page envelope (its API's `Page`, with `contents`)."""

    total_items: int
    total_pages: int
    page_number: int
    size: int
    first_page: bool
    last_page: bool
    empty: bool
    contents: list[T]

    @classmethod
    def model_parametrized_name(cls, params: tuple[Any, ...]) -> str:
        return f"{params[0].__name__}Page"
