"""What every request body shares: unknown fields and NUL characters are errors, times are UTC;
and what every PATCH body shares: null only clears what may be empty."""

from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    GetJsonSchemaHandler,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError
from sqlmodel import SQLModel
from sqlmodel._compat import SQLModelConfig

from app.core.errors import Invalid
from app.core.instants import EARLIEST, LATEST, WINDOW_HORIZON, WINDOW_PAST, as_utc, in_bounds, utcnow
from app.core.text import HumanText


def request_config(example: JsonDict | None = None) -> SQLModelConfig:
    if example is None:
        return SQLModelConfig(extra="forbid")
    return SQLModelConfig(extra="forbid", json_schema_extra={"examples": [example]})


def rule_broken(message: str) -> PydanticCustomError:
    """A validation error for a rule JSON Schema cannot state, typed `rule` like the domain's
    own (see `FieldError.type`), so clients can tell it from a schema violation."""
    return PydanticCustomError("rule", message)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class RequestBody(SQLModel):
    """Base of every request body."""

    model_config = request_config()

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        # NUL is never meaningful text, and Postgres cannot store it.
        if _has_nul(data):
            raise rule_broken("text must not contain NUL (\\u0000) characters")
        return data


_NULL = {"type": "null"}


class PatchBody(RequestBody):
    """A PATCH body: leave a field out to keep its value; null clears it, and only the fields
    named in `clearable` may be cleared. The schema says so: the others are not nullable."""

    clearable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _null_only_where_clearable(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.clearable:
            raise PydanticCustomError(
                "null_forbidden",
                "{field} cannot be null; leave it out to keep it",
                {"field": info.field_name},
            )
        return value

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(core_schema)
        schema = handler.resolve_ref_schema(json_schema)
        for name, field in schema.get("properties", {}).items():
            variants = field.get("anyOf", [])
            if name in cls.clearable or _NULL not in variants:
                continue
            rest = [v for v in variants if v != _NULL]
            del field["anyOf"]
            field.pop("default", None)  # leaving it out is not sending null
            if len(rest) == 1:
                field.update(rest[0])
            else:
                field["anyOf"] = rest
        return json_schema


def _whole_number(value: Any) -> Any:
    # JSON Schema counts 3.0 as an integer; pydantic's strict int would refuse it.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# After `Annotated[int, Strict(), Field(...)]`: a JSON integer, 3.0 included, never "3" or true.
WHOLE_NUMBER = BeforeValidator(_whole_number)


def _stripped(value: str) -> str:
    return value.strip()


# After `Annotated[str, StringConstraints(...)]`: the length limits count the text as sent (as the
# schema does), then surrounding whitespace is dropped. For machine text (phone numbers, ids);
# whatever a person reads is HumanText (app.core.text), of which TEXT is the one-line kind.
STRIPPED = AfterValidator(_stripped)
TEXT = HumanText()
PROSE = HumanText(multiline=True)


def _instant(value: datetime) -> datetime:
    utc = as_utc(value)
    if utc is None or not in_bounds(utc):
        raise rule_broken(
            f"must be a time from {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d} (UTC); "
            "this one is outside the range the service can place on every clock"
        )
    return utc


Instant = Annotated[
    AwareDatetime,
    AfterValidator(_instant),
    Field(description=f"RFC 3339 with an offset, from {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d} UTC."),
]
"""Every time the service accepts: RFC 3339 with an offset, answered in UTC, and within the
bounds (app.core.timeutil) in which converting it to any zone can never overflow."""


def _in_window_horizon(value: datetime) -> datetime:
    now = utcnow()
    if value > now + WINDOW_HORIZON or value < now - WINDOW_PAST:
        raise rule_broken(
            "a window must end within two years from now and start no more than a year ago "
            f"(so between {now - WINDOW_PAST:%Y-%m-%d} and {now + WINDOW_HORIZON:%Y-%m-%d})"
        )
    return value


WindowTime = Annotated[Instant, AfterValidator(_in_window_horizon)]
"""A need's window_start or window_end: an Instant that also lies within the window horizon."""

# RFC 3339 with an offset, as the document says: a query string is never read as a Unix time.
RFC3339 = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$"
_INSTANT: TypeAdapter[datetime] = TypeAdapter(Instant)


def instant_in(where: str, name: str, value: str | None) -> datetime | None:
    """A query or path parameter read as every other time the service accepts (`Instant`);
    Invalid (422) at `[where, name]` saying why not."""
    if value is None:
        return None
    try:
        return _INSTANT.validate_python(value)
    except ValidationError as exc:
        # The shape is the schema's pattern; a date that does not exist or lies outside the
        # accepted years is a rule the pattern cannot state.
        raise Invalid(f"{name}: {exc.errors()[0]['msg']}", loc=[where, name]) from None
