"""Opaque keyset cursors and the page envelope every list returns."""

import base64
import binascii
import json
import re
import uuid
from datetime import datetime
from types import UnionType
from typing import Annotated, Any, Generic, TypeVar, Union, get_args, get_origin

from fastapi import Query
from pydantic import BaseModel

from app.core.errors import Invalid
from app.core.instants import as_utc, in_bounds

Limit = Annotated[int, Query(ge=1, le=100, description="Page size, 1..100.")]
Cursor = Annotated[str | None, Query(max_length=512, description="`next_cursor` of the previous page.")]


T = TypeVar("T")


_WORD = re.compile(r"[A-Z][a-z0-9]*")
_VIEW_SUFFIX = re.compile(r"(View|Public)$")


def _item_name(item: Any) -> str:
    """`Need` for `NeedOwner | NeedParticipant | NeedPublic` (their common leading words),
    `Match` for `MatchView`, `Organization` for `OrganizationPublic`, through `Annotated`."""
    if get_origin(item) is Annotated:
        return _item_name(get_args(item)[0])
    if get_origin(item) in (Union, UnionType):
        words = [_WORD.findall(_item_name(member)) for member in get_args(item)]
        common = []
        for group in zip(*words, strict=False):
            if len(set(group)) > 1:
                break
            common.append(group[0])
        if common:
            return "".join(common)
    if isinstance(item, type):
        return _VIEW_SUFFIX.sub("", item.__name__) or item.__name__
    raise TypeError(f"name a Page of {item!r}: its members share no leading word")


class Page(BaseModel, Generic[T]):
    """`{items, next_cursor}`; `Page[NeedView]` is the schema `NeedPage`, not pydantic's default
    name, which spells out the whole type and breaks generated clients (file names too long)."""

    items: list[T]
    next_cursor: str | None = None

    @classmethod
    def model_parametrized_name(cls, params: tuple[Any, ...]) -> str:
        return f"{_item_name(params[0])}Page"


def encode_cursor(kind: str, *values: Any) -> str:
    raw = json.dumps([kind, *values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str, arity: int) -> list[Any]:
    """The values a cursor of this kind holds; a 422 problem for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError):
        values = None
    if not isinstance(values, list) or len(values) != arity + 1 or values[0] != kind:
        raise Invalid(
            "The cursor is not valid for this query; start again without it.", loc=["query", "cursor"]
        )
    return values[1:]


def encode_time_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    return encode_cursor("t", created_at.isoformat(), str(row_id))


def decode_time_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """(created_at, id) of the last row of the previous newest-first page."""
    ts, row_id = decode_cursor(cursor, "t", 2)
    try:
        parsed = datetime.fromisoformat(str(ts))
        at = as_utc(parsed) if parsed.tzinfo is not None else None
        # The bounds of every accepted time: a forged cursor's time must not reach SQL either.
        if at is None or not in_bounds(at):
            raise ValueError("cursor times carry their offset and lie within the accepted range")
        return at, uuid.UUID(str(row_id))
    except ValueError:
        raise Invalid("The cursor is not valid for this query.", loc=["query", "cursor"]) from None


def decode_distance_cursor(cursor: str) -> tuple[float, uuid.UUID]:
    """(distance_km, id) of the last row of the previous nearest-first page."""
    distance, row_id = decode_cursor(cursor, "d", 2)
    if not isinstance(distance, float | int) or not 0 <= distance <= 20040:  # half the globe
        raise Invalid("The cursor is not valid for this query.", loc=["query", "cursor"])
    return float(distance), decode_uuid(row_id)


def decode_seq_cursor(cursor: str, kind: str, *, below: int) -> int:
    """The sequence number of the last row of the previous page: a whole number from 1 to
    `below` - 1 (the column's range: a larger one would fail in SQL, not match nothing), never
    a boolean (JSON's `true` is a Python int)."""
    (seq,) = decode_cursor(cursor, kind, 1)
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 < seq < below:
        raise Invalid("The cursor is not valid for this query.", loc=["query", "cursor"])
    return seq


def decode_uuid(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise Invalid("The cursor is not valid for this query.", loc=["query", "cursor"]) from None
