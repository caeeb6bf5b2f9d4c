"""`column` is one of many ids, for lists of thousands (a process's open streams): one array
parameter on Postgres, whatever the number; on SQLite, which binds a bounded number of values
per statement, one condition per chunk, each for a statement of its own."""

import uuid
from collections.abc import Collection

from sqlalchemy import ARRAY, ColumnElement, Uuid, any_, bindparam
from sqlalchemy.orm import Mapped

SQLITE_CHUNK = 500


def among(
    column: Mapped[uuid.UUID], ids: Collection[uuid.UUID], *, dialect: str
) -> list[ColumnElement[bool]]:
    """The conditions to run one statement each with: together they select `ids`."""
    ordered = sorted(ids)
    if not ordered:
        return []
    if dialect == "postgresql":
        return [column == any_(bindparam("ids", ordered, type_=ARRAY(Uuid())))]
    return [column.in_(ordered[i : i + SQLITE_CHUNK]) for i in range(0, len(ordered), SQLITE_CHUNK)]
