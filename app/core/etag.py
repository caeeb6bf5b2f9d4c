"""ETags from row versions, and reading If-Match (RFC 9110: strong comparison)."""

import re
from typing import Annotated

from fastapi import Header

IfMatch = Annotated[str | None, Header(alias="If-Match", description="ETag from a previous read.")]
ANY = -1
# A strong tag of ours: a version number, quoted (versions are positive 64-bit integers).
_TAG = re.compile(r'"[0-9]{1,19}"')


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
        # ASCII digits only, and no more than a version can have: str.isdigit() also takes
        # superscripts and other scripts' digits (Latin-1 reaches headers), which int() refuses,
        # and int() refuses strings of over 4,300 digits too.
        if _TAG.fullmatch(tag):
            versions.add(int(tag[1:-1]))
    return versions


def matches(if_match: set[int] | None, version: int) -> bool:
    return if_match is None or ANY in if_match or version in if_match
