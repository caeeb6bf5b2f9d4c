"""Value types more than one domain's bodies and views use: a point on the globe, a phone number,
a time of day and an IANA time zone name."""

from functools import cache
from importlib.resources import files
from typing import Annotated

from pydantic import AfterValidator, StrictFloat, StringConstraints, WithJsonSchema
from sqlmodel import Field, SQLModel

from app.core.schema import STRIPPED, request_config, rule_broken

Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9][0-9 ()\-]{5,24}$"), STRIPPED]


# WGS 84 degrees. (No docstring: it would become the schema's description in /openapi.json.)
class Point(SQLModel):
    model_config = request_config()

    lat: StrictFloat = Field(ge=-90, le=90, schema_extra={"examples": [51.5074]})
    lon: StrictFloat = Field(ge=-180, le=180, schema_extra={"examples": [-0.1278]})


HHMM = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")]


@cache
def timezones() -> frozenset[str]:
    # The IANA list shipped with tzdata, not whatever files the host's zoneinfo folder holds.
    names = files("tzdata").joinpath("zones").read_text().split()
    return frozenset(names) - {"Factory"}


def _timezone(name: str) -> str:
    if name not in timezones():
        raise rule_broken(f"{name!r} is not an IANA time zone name; use one such as 'Europe/London' or 'UTC'")
    return name


# A string, not an enum of the ~600 zones: several names are equal once made identifiers
# (`GMT0`, `GMT+0`, `Etc/GMT-0`), which stops client generators, and the list changes with
# each tzdata release. The server checks the name against the tzdata it ships.
Timezone = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(_timezone),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": 64,
            "description": "An IANA time zone database name (`Area/Location`, or `UTC`), as "
            "shipped by tzdata; an unknown name is a 422.",
            "examples": ["Europe/London", "America/New_York", "UTC"],
        }
    ),
]
