"""ETags from row versions, and reading If-Match (RFC 9110: strong comparison)."""

from typing import Annotated

from fastapi import Header

IfMatch = Annotated[str | None, Header(alias="If-Match", description="ETag from a previous read.")]
ANY = -1


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(value: str | None) -> set[int] | None:
    """The versions an If-Match accepts ({ANY} for `*`); None when there is no If-Match.

    Weak or malformed tags never match, so they end in 412 rather than a silent overwrite."""
    if value is None:
        return None
    if value.strip() == "*":
        return {ANY}
    versions = set()
    for tag in value.split(","):
        tag = tag.strip()
        if len(tag) > 2 and tag[0] == tag[-1] == '"' and tag[1:-1].isdigit():
            versions.add(int(tag[1:-1]))
    return versions


def matches(if_match: set[int] | None, version: int) -> bool:
    return if_match is None or ANY in if_match or version in if_match
