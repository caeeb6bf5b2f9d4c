"""Places on an activity: joining, the waitlist, leaving and promotion.

Every step first locks the activity's row (SELECT ... FOR UPDATE on Postgres; SQLite runs one
writer at a time), so joins, leaves and capacity changes on one activity happen one after the
other: a join that finds it full is on the waitlist before any leave can look for someone to
promote. The confirmed counter moves only by conditional UPDATEs, and the table's CHECK
(`confirmed_count <= capacity`) refuses anything else, whatever the code above does.
"""

import uuid

from sqlalchemy import delete, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.activities.models import Activity, ActivityStatus, Participant, ParticipantStatus
from app.core.errors import Conflict, NotFound
from app.core.timeutil import utcnow
from app.safety import blocks

CONFIRMED, WAITLISTED = ParticipantStatus.confirmed.value, ParticipantStatus.waitlisted.value


async def lock(session: AsyncSession, *, activity_id: uuid.UUID) -> Activity:
    """The activity, its row locked until the transaction ends."""
    stmt = select(Activity).where(col(Activity.id) == activity_id).with_for_update()
    activity = (await session.exec(stmt.execution_options(populate_existing=True))).one_or_none()
    if activity is None:
        raise NotFound("No such activity.")
    return activity


async def status_of(
    session: AsyncSession, *, activity_id: uuid.UUID, member_id: uuid.UUID | None
) -> str | None:
    if member_id is None:
        return None
    stmt = select(Participant.status).where(
        col(Participant.activity_id) == activity_id, col(Participant.member_id) == member_id
    )
    return (await session.exec(stmt)).one_or_none()


async def place_of(
    session: AsyncSession, *, activity_id: uuid.UUID, member_id: uuid.UUID | None
) -> Participant | None:
    """The member's place on the activity (confirmed or waitlisted), if they hold one."""
    if member_id is None:
        return None
    stmt = select(Participant).where(
        col(Participant.activity_id) == activity_id, col(Participant.member_id) == member_id
    )
    return (await session.exec(stmt)).one_or_none()


async def _take_seat(session: AsyncSession, activity_id: uuid.UUID) -> bool:
    """One more confirmed place, only while one is free; False writes nothing."""
    result = await session.exec(
        update(Activity)
        .where(
            col(Activity.id) == activity_id,
            or_(col(Activity.capacity).is_(None), col(Activity.confirmed_count) < col(Activity.capacity)),
        )
        .values(confirmed_count=col(Activity.confirmed_count) + 1)
    )
    return bool(result.rowcount == 1)


async def _count(session: AsyncSession, activity_id: uuid.UUID, status: str, step: int) -> None:
    column = "confirmed_count" if status == CONFIRMED else "waitlisted_count"
    await session.exec(
        update(Activity)
        .where(col(Activity.id) == activity_id)
        .values({column: getattr(Activity, column) + step})
    )


async def join(
    session: AsyncSession, *, activity_id: uuid.UUID, member_id: uuid.UUID
) -> tuple[Participant, bool]:
    """(the member's place, whether it is new). Joining again answers the place already held."""
    activity = await lock(session, activity_id=activity_id)
    if activity.status != ActivityStatus.open:  # a place on a cancelled activity is no place
        raise Conflict(f"The activity is {activity.status}; it takes no one.")
    existing = await place_of(session, activity_id=activity_id, member_id=member_id)
    if existing is not None:
        return existing, False
    if activity.last_ends_at <= utcnow():
        raise Conflict("The activity has ended.")
    if activity.host_id == member_id:
        raise Conflict("The host is part of their own activity already.")
    status = CONFIRMED if await _take_seat(session, activity_id) else WAITLISTED
    if status == WAITLISTED:
        await _count(session, activity_id, WAITLISTED, +1)
    place = Participant(activity_id=activity_id, member_id=member_id, status=status)
    session.add(place)
    await session.flush()
    return place, True


async def leave(session: AsyncSession, *, activity_id: uuid.UUID, member_id: uuid.UUID) -> list[uuid.UUID]:
    """Give up the member's place; answers who was promoted into it (none, or one)."""
    await lock(session, activity_id=activity_id)
    gone = (
        await session.exec(
            delete(Participant)
            .where(col(Participant.activity_id) == activity_id, col(Participant.member_id) == member_id)
            .returning(col(Participant.status))
        )
    ).scalar_one_or_none()
    if gone is None:
        raise NotFound("You have no place on this activity.")
    await _count(session, activity_id, gone, -1)
    return await fill(session, activity_id=activity_id) if gone == CONFIRMED else []


async def fill(session: AsyncSession, *, activity_id: uuid.UUID) -> list[uuid.UUID]:
    """Confirm the earliest waitlisted while places are free (the caller holds the lock);
    answers the promoted members in arrival order."""
    activity = await lock(session, activity_id=activity_id)
    if activity.status != ActivityStatus.open:
        return []
    free = None if activity.capacity is None else activity.capacity - activity.confirmed_count
    stmt = (
        select(Participant.seq, Participant.member_id)
        .where(col(Participant.activity_id) == activity_id, col(Participant.status) == WAITLISTED)
        .order_by(col(Participant.seq))
    )
    if free is not None:
        stmt = stmt.limit(max(free, 0))
    first = (await session.exec(stmt)).all()
    promoted = []
    for seq, member in first:
        if not await _take_seat(session, activity_id):
            break
        await session.exec(update(Participant).where(col(Participant.seq) == seq).values(status=CONFIRMED))
        await _count(session, activity_id, WAITLISTED, -1)
        promoted.append(member)
    return promoted


async def participants(
    session: AsyncSession, *, activity_id: uuid.UUID, after: int | None, limit: int, viewer: uuid.UUID | None
) -> list[Participant]:
    """Everyone on the activity in arrival order (confirmed and waitlisted), one page and one more,
    but those blocked either way with `viewer` (one of the organisation's coordinators, say, who
    is not its host): two members either of whom blocked the other never meet, on a roster too."""
    stmt = select(Participant).where(
        col(Participant.activity_id) == activity_id,
        blocks.not_blocked_with(col(Participant.member_id), viewer),
    )
    if after is not None:
        stmt = stmt.where(col(Participant.seq) > after)
    return list((await session.exec(stmt.order_by(col(Participant.seq)).limit(limit + 1))).all())
