"""Configuration shared by request bodies: unknown fields are an error, never silently dropped."""

from pydantic.config import JsonDict
from sqlmodel._compat import SQLModelConfig


def request_config(example: JsonDict | None = None) -> SQLModelConfig:
    if example is None:
        return SQLModelConfig(extra="forbid")
    return SQLModelConfig(extra="forbid", json_schema_extra={"examples": [example]})
