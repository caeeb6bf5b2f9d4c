"""ETags from row versions, and reading If-Match."""

from typing import Annotated

from fastapi import Header

from app.core.errors import PreconditionFailed

IfMatch = Annotated[str | None, Header(alias="If-Match", description="ETag from a previous read.")]


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(value: str | None) -> int | None:
    """The version an If-Match names; a value that names none can never match (412)."""
    if value is None:
        return None
    tag = value.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise PreconditionFailed("If-Match does not name a version of this resource.")
    return int(tag)
