"""A member's live notification stream: Server-Sent Events read from the inbox, woken by
app.notifications.wakeups, resumable with Last-Event-ID without loss or repeats."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from sse_starlette import ServerSentEvent

from app.auth.standing import still_allowed
from app.core.config import Settings
from app.core.timeutil import utcnow
from app.notifications import service
from app.notifications.models import Notification, NotificationPublic
from app.notifications.wakeups import Wakeups

# Rows read per query: a stream resuming far back sends its backlog in pages of this many.
BATCH = 100


def event_of(row: Notification) -> ServerSentEvent:
    """`id:` the notification's id, `data:` the notification as the inbox lists it. No `event:`
    name, so a browser's EventSource hands every notification to `onmessage`."""
    return ServerSentEvent(id=str(row.id), data=NotificationPublic.model_validate(row).model_dump_json())


async def notification_events(
    *,
    sessions: async_sessionmaker[AsyncSession],
    wakeups: Wakeups,
    settings: Settings,
    member_id: uuid.UUID,
    after_seq: int,
    ends_at: datetime,
) -> AsyncIterator[ServerSentEvent]:
    """Every notification of the member's after `after_seq` (service.resume_point), oldest
    first, until `ends_at` or until the member may no longer act.

    Each pass reads the inbox in its own short transaction (no connection is held between
    passes), after the member's `seq`: since a member's notifications commit in `seq` order,
    nothing committed later can carry a smaller one, so none is skipped and none sent twice."""
    seq = after_seq
    async with wakeups.subscribe(member_id) as woken:
        while True:
            woken.clear()  # before reading: a wake-up during the read is kept for the next pass
            async with sessions() as session:
                if not await still_allowed(session, member_id=member_id):
                    return
                rows = await service.after(session, member_id=member_id, seq=seq, limit=BATCH)
            for row in rows:
                yield event_of(row)
                seq = row.seq
            if len(rows) == BATCH:
                continue
            left = (ends_at - utcnow()).total_seconds()
            if left <= 0:
                return
            # Listening, a wake-up comes with each commit and the heartbeat's pass is a backstop;
            # polling (SQLite, or the listener reconnecting), each pass is a look.
            wait = (
                settings.notification_heartbeat_seconds
                if wakeups.listening
                else settings.notification_poll_seconds
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), min(left, wait))
