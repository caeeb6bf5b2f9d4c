"""A need's volunteer slots, taken and given back by the matches made on it.

Each step is one conditional UPDATE, so the contract's limits hold under any concurrency. The
need row is locked first (after the match, before the offer: the order every match step keeps),
so the status read before the UPDATE is the one it changes.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import case, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.needs.models import Need, NeedStatus
from app.webhooks import service as webhooks
from app.webhooks.models import EventType


async def _update(session: AsyncSession, need_id: uuid.UUID, stmt: Any, events: list[webhooks.Event]) -> bool:
    """Run a conditional UPDATE of the need; when it moves the need's status (matched, fulfilled,
    open again), add the `need.updated` event its subscribers are owed."""
    row = await session.exec(
        select(Need.status, Need.organization_id).where(col(Need.id) == need_id).with_for_update()
    )
    before, organization_id = row.one()
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


async def take_slot(
    session: AsyncSession, *, need_id: uuid.UUID, now: datetime, events: list[webhooks.Event]
) -> bool:
    """One more accepted volunteer, only while the need is open, in its window and not full.

    False when any of that fails (nothing is written); the caller rolls back."""
    taken = col(Need.volunteers_accepted) + 1
    stmt = (
        update(Need)
        .where(
            col(Need.id) == need_id,
            col(Need.status) == NeedStatus.open,
            col(Need.volunteers_accepted) < col(Need.volunteers_needed),
            or_(col(Need.window_end).is_(None), col(Need.window_end) > now),
        )
        .values(
            volunteers_accepted=taken,
            version=col(Need.version) + 1,
            updated_at=now,
            status=case((taken >= col(Need.volunteers_needed), NeedStatus.matched), else_=col(Need.status)),
        )
    )
    return await _update(session, need_id, stmt, events)


async def release_slot(
    session: AsyncSession, *, need_id: uuid.UUID, now: datetime, events: list[webhooks.Event], completed: bool
) -> None:
    """An accepted volunteer leaves: done (`completed`, which may fulfil the need) or not (the
    slot opens again, and a matched need is open once more)."""
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
