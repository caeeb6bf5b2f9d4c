"""What every request body shares: unknown fields and NUL characters are errors, times are UTC."""

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, model_validator
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError
from sqlmodel import SQLModel
from sqlmodel._compat import SQLModelConfig


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


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UTCDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
