"""Patterns every domain shares: versioned updates and newest-first pages."""

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import and_, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from app.core.errors import Conflict, PreconditionFailed
from app.core.etag import matches
from app.core.pagination import decode_time_cursor, encode_time_cursor
from app.core.timeutil import utcnow
from app.core.transactions import savepoint

T = TypeVar("T")


async def versioned_update(
    session: AsyncSession,
    row: Any,
    values: dict[str, Any],
    *,
    if_match: set[int] | None,
    noun: str,
    and_then: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """UPDATE ... WHERE version = seen: the database, not Python, decides who wins a race.

    `and_then` runs once the update has won, inside the request's transaction (an outbox row).
    Nothing is committed here: the request's session dependency commits the whole change."""
    model, seen = type(row), row.version
    stale = PreconditionFailed(f"The {noun} has changed since you read it; fetch it again.")
    if not matches(if_match, seen):
        raise stale
    try:
        async with savepoint(session):
            result = await session.exec(
                update(model)
                .where(col(model.id) == row.id, col(model.version) == seen)
                .values(**values, version=seen + 1, updated_at=utcnow())
            )
    except IntegrityError:
        # A CHECK constraint (slots, capacity) refused it: the state moved under us.
        raise Conflict(f"That would break a limit of this {noun} (slots or capacity in use).") from None
    if result.rowcount != 1:
        if if_match is not None:
            raise stale
        raise Conflict(f"The {noun} was changed by someone else at the same moment; try again.")
    if and_then is not None:
        await and_then()
    await session.refresh(row)


def newest_first(
    stmt: SelectOfScalar[T], model: Any, cursor: str | None, limit: int, *, at: str = "created_at"
) -> SelectOfScalar[T]:
    """Keyset page on (timestamp, id), newest first; one extra row tells whether more follow."""
    stamp = col(getattr(model, at))
    if cursor:
        when, last = decode_time_cursor(cursor)
        stmt = stmt.where(or_(stamp < when, and_(stamp == when, col(model.id) < last)))
    return stmt.order_by(stamp.desc(), col(model.id).desc()).limit(limit + 1)


def page_of(rows: Sequence[T], limit: int, *, at: str = "created_at") -> tuple[list[T], str | None]:
    if len(rows) <= limit:
        return list(rows), None
    last = rows[limit - 1]
    return list(rows[:limit]), encode_time_cursor(getattr(last, at), getattr(last, "id"))  # noqa: B009
