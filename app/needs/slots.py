"""A need's volunteer slots, taken and given back by the matches made on it: the one place slots
are counted.

A match for the whole series (or a one-off need) takes a slot in every occurrence: the need's
`volunteers_accepted`. A match naming one occurrence of a recurring need takes a slot in that
occurrence alone (`OccurrenceSlots`). For every occurrence not yet ended, series plus that
occurrence's count stays within `volunteers_needed`: a series match needs a free slot in each of
them, an occurrence match in its own, so different volunteers may share out one occurrence's
slots and a date taken by one volunteer leaves the rest of the series open.

Each step first locks the need row (after the match, before the offer: the order every match step
keeps), then moves a count by one conditional UPDATE whose condition reads the other count, so
the limits hold under any concurrency; the status read before the UPDATE is the one it changes.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, func, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import Conflict
from app.needs import occurrences
from app.needs.models import Need, NeedStatus, OccurrenceSlots, OccurrenceStatus, closes_at_sql
from app.webhooks import service as webhooks
from app.webhooks.models import EventType


async def _lock(session: AsyncSession, need_id: uuid.UUID) -> tuple[str, uuid.UUID | None]:
    row = await session.exec(
        select(Need.status, Need.organization_id).where(col(Need.id) == need_id).with_for_update()
    )
    status, organization_id = row.one()
    return status, organization_id


async def _update(session: AsyncSession, need_id: uuid.UUID, stmt: Any, events: list[webhooks.Event]) -> bool:
    """Run a conditional UPDATE of the need; when it moves the need's status (matched, fulfilled,
    open again), add the `need.updated` event its subscribers are owed."""
    before, organization_id = await _lock(session, need_id)
    after = (await session.exec(stmt.returning(Need.status))).scalar_one_or_none()
    if after is None:
        return False
    if after != before:
        events.append(
            webhooks.need_event(
                EventType.need_updated, organization_id=organization_id, need_id=need_id, status=str(after)
            )
        )
    return True


def _occurrence_taken(need_id: Any, now: datetime) -> Any:
    """The most slots occurrence matches hold in any occurrence of the need not yet ended."""
    return (
        select(func.coalesce(func.max(OccurrenceSlots.accepted), 0))
        .where(col(OccurrenceSlots.need_id) == need_id, col(OccurrenceSlots.occurrence_end) > now)
        .scalar_subquery()
    )


async def take_slot(
    session: AsyncSession,
    *,
    need_id: uuid.UUID,
    now: datetime,
    events: list[webhooks.Event],
    occurrence_start: datetime | None = None,
) -> bool:
    """One more accepted volunteer, only while the need is open and has not closed: for the
    whole series (a free slot in every occurrence not yet ended), or, with `occurrence_start`,
    for that open occurrence alone.

    False when any of that fails (nothing is written); the caller rolls back."""
    if occurrence_start is not None:
        return await _take_occurrence(session, need_id, occurrence_start, now)
    taken = col(Need.volunteers_accepted) + 1
    stmt = (
        update(Need)
        .where(
            col(Need.id) == need_id,
            col(Need.status) == NeedStatus.open,
            col(Need.volunteers_accepted) + _occurrence_taken(need_id, now) < col(Need.volunteers_needed),
            # A recurring need stays open until its last occurrence ends, not its first.
            or_(closes_at_sql().is_(None), closes_at_sql() > now),
        )
        .values(
            volunteers_accepted=taken,
            version=col(Need.version) + 1,
            updated_at=now,
            status=case((taken >= col(Need.volunteers_needed), NeedStatus.matched), else_=col(Need.status)),
        )
    )
    return await _update(session, need_id, stmt, events)


async def _take_occurrence(session: AsyncSession, need_id: uuid.UUID, start: datetime, now: datetime) -> bool:
    status, _ = await _lock(session, need_id)
    need = await session.get(Need, need_id, populate_existing=True)
    found = occurrences.find(need, start, now) if need is not None and occurrences.recurs(need) else None
    if status != NeedStatus.open or found is None or found.status != OccurrenceStatus.open:
        return False
    builder = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.exec(
        builder(OccurrenceSlots)
        .values(need_id=need_id, occurrence_start=found.start, occurrence_end=found.end, accepted=0)
        .on_conflict_do_nothing(index_elements=["need_id", "occurrence_start"])
    )
    series = select(Need.volunteers_accepted).where(col(Need.id) == need_id).scalar_subquery()
    needed = select(Need.volunteers_needed).where(col(Need.id) == need_id).scalar_subquery()
    result = await session.exec(
        update(OccurrenceSlots)
        .where(
            col(OccurrenceSlots.need_id) == need_id,
            col(OccurrenceSlots.occurrence_start) == found.start,
            col(OccurrenceSlots.accepted) + series < needed,
        )
        .values(accepted=col(OccurrenceSlots.accepted) + 1)
    )
    return bool(result.rowcount == 1)


async def release_slot(
    session: AsyncSession,
    *,
    need_id: uuid.UUID,
    now: datetime,
    events: list[webhooks.Event],
    completed: bool,
    occurrence_start: datetime | None = None,
) -> None:
    """An accepted volunteer leaves: done (`completed`, which may fulfil the need) or not (the
    slot opens again, and a matched need is open once more). An occurrence's slot, once done,
    stays taken: that occurrence was served."""
    if occurrence_start is not None:
        await _lock(session, need_id)
        if not completed:
            await session.exec(
                update(OccurrenceSlots)
                .where(
                    col(OccurrenceSlots.need_id) == need_id,
                    col(OccurrenceSlots.occurrence_start) == occurrence_start,
                    col(OccurrenceSlots.accepted) > 0,
                )
                .values(accepted=col(OccurrenceSlots.accepted) - 1)
            )
        return
    if completed:
        done = col(Need.volunteers_completed) + 1
        need_values = {
            "volunteers_completed": done,
            "status": case(
                (done >= col(Need.volunteers_needed), NeedStatus.fulfilled), else_=col(Need.status)
            ),
        }
    else:
        need_values = {
            "volunteers_accepted": col(Need.volunteers_accepted) - 1,
            "status": case((col(Need.status) == NeedStatus.matched, NeedStatus.open), else_=col(Need.status)),
        }
    stmt = (
        update(Need)
        .where(col(Need.id) == need_id)
        .values(**need_values, version=col(Need.version) + 1, updated_at=now)
    )
    await _update(session, need_id, stmt, events)


async def check_room(session: AsyncSession, *, need_id: uuid.UUID, now: datetime) -> None:
    """After an edit of `volunteers_needed` (whose UPDATE holds the need's row lock): 409 when an
    occurrence not yet ended would hold more volunteers than that, series and its own together.
    (The table's CHECK already refuses fewer than the series holds.)"""
    over = select(OccurrenceSlots.occurrence_start).where(
        col(OccurrenceSlots.need_id) == need_id,
        col(OccurrenceSlots.occurrence_end) > now,
        col(OccurrenceSlots.accepted)
        + select(Need.volunteers_accepted).where(col(Need.id) == need_id).scalar_subquery()
        > select(Need.volunteers_needed).where(col(Need.id) == need_id).scalar_subquery(),
    )
    if (await session.exec(over.limit(1))).first() is not None:
        raise Conflict("An occurrence has more accepted volunteers than that; volunteers_needed unchanged.")


async def forget_occurrence(session: AsyncSession, *, need_id: uuid.UUID, start: datetime) -> None:
    """A cancelled occurrence holds no slots: its count goes, so the series is judged on the
    occurrences that remain."""
    await _lock(session, need_id)
    await session.exec(
        delete(OccurrenceSlots).where(
            col(OccurrenceSlots.need_id) == need_id, col(OccurrenceSlots.occurrence_start) == start
        )
    )
