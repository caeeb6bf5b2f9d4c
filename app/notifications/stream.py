"""A member's live notification stream: Server-Sent Events read from the inbox when woken
(app.notifications.hub), resumable with Last-Event-ID without loss or repeats."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

from sse_starlette import ServerSentEvent

from app.core.timeutil import utcnow
from app.notifications.hub import StreamHub
from app.notifications.models import Notification, NotificationPublic

# Rows read per query: a stream resuming far back sends its backlog in pages of this many.
BATCH = 100


def event_of(row: Notification) -> ServerSentEvent:
    """`id:` the notification's id, `data:` the notification as the inbox lists it. No `event:`
    name, so a browser's EventSource hands every notification to `onmessage`."""
    return ServerSentEvent(id=str(row.id), data=NotificationPublic.model_validate(row).model_dump_json())


async def notification_events(
    *,
    hub: StreamHub,
    member_id: uuid.UUID,
    after_seq: int,
    ends_at: datetime,
    session_id: uuid.UUID | None = None,
) -> AsyncIterator[ServerSentEvent]:
    """Every notification of the member's after `after_seq` (service.resume_point), oldest
    first, until `ends_at`, until the member may no longer act, or until the login
    `session_id` that opened it has ended.

    The stream reads its inbox when it opens and whenever it is woken (app.notifications.hub),
    each time in its own short transaction, after the last `seq` it sent: since a member's
    notifications commit in `seq` order, nothing committed later can carry a smaller one, so
    none is skipped and none sent twice. A failed read is tried again; the stream stays open."""
    async with hub.open(member_id, after_seq=after_seq, session_id=session_id) as stream:
        while not stream.ended:
            if stream.woken.is_set():
                # Cleared before reading: a wake-up during the read is kept for the next pass.
                stream.woken.clear()
                target = stream.target
                rows = await hub.read(stream, limit=BATCH)
                if stream.ended:  # the read found the member shut out
                    return
                if rows is None:
                    await _sleep_until(ends_at, hub.retry_seconds)
                    stream.woken.set()
                    if utcnow() >= ends_at:
                        return
                    continue
                for row in rows:
                    yield event_of(row)
                    stream.seq = row.seq
                if len(rows) == BATCH:
                    stream.woken.set()
                    continue
                # Everything the look that woke it had seen is now sent, or was deleted.
                stream.covered = max(stream.covered, stream.seq, target)
            left = (ends_at - utcnow()).total_seconds()
            if left <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stream.woken.wait(), left)


async def _sleep_until(ends_at: datetime, seconds: float) -> None:
    await asyncio.sleep(max(0.0, min(seconds, (ends_at - utcnow()).total_seconds())))
