"""A process's open notification streams: who reads the database, when, and how much of it.

A stream reads its inbox when it opens and when it is woken, never on a heartbeat (that is a
comment line, no query). Wake-ups come from commits (app.notifications.wakeups, Postgres
LISTEN/NOTIFY) and from the hub's look: one query over all the process's open streams, which
finds the members with something new (their `seq` counter) and wakes only their streams. The
hub looks every `NOTIFICATION_POLL_SECONDS` while no listener hears commits (SQLite, or the
listener reconnecting) and every heartbeat otherwise, as a backstop; every heartbeat it also
ends the streams of members who may no longer act, and those whose login has ended (a logout,
a password change, a revoked session), in one query for each.

Streams and the hub take at most half the connection pool between them, so requests always
find connections. A read that fails (the pool's timeout, the database down) leaves the stream
open and is tried again: a stream sends a notification only once read, and moves past it only
once sent, so nothing is lost or repeated.
"""

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.standing import shut_out, still_allowed
from app.core.config import Settings
from app.members import sessions
from app.notifications import service
from app.notifications.models import Notification
from app.notifications.wakeups import Wakeups

log = structlog.get_logger(__name__)
# What a failed read raises: the pool's timeout and the driver's errors (SQLAlchemyError), a
# connection attempt that timed out or was refused (TimeoutError, OSError).
READ_FAILURES = (SQLAlchemyError, TimeoutError, OSError)


@dataclass(eq=False)
class OpenStream:
    """One open stream's place: `seq`, the last notification sent; `covered`, a counter value
    up to which the stream has read everything (deleted rows leave gaps below it)."""

    member_id: uuid.UUID
    seq: int
    woken: asyncio.Event
    covered: int = 0
    target: int = 0  # the newest counter value a look saw, to cover once read
    ended: bool = False  # the member may no longer act, or their login has ended
    session_id: uuid.UUID | None = None  # the login whose access token opened the stream

    def offer(self, counter: int) -> None:
        """The hub saw the member's counter at `counter`: wake the stream if that is news."""
        if counter > self.covered:
            self.target = max(self.target, counter)
            self.woken.set()


@dataclass
class _Active:
    """What exists while at least one stream is open, bound to the running event loop."""

    reads: asyncio.Semaphore
    resync: asyncio.Event
    task: asyncio.Task[None] | None = None
    stopping: bool = False
    streams: dict[uuid.UUID, set[OpenStream]] = field(default_factory=dict)


class StreamHub:
    def __init__(
        self,
        *,
        sessions: Callable[[], async_sessionmaker[AsyncSession]],
        wakeups: Wakeups,
        settings: Settings,
    ) -> None:
        self._sessions = sessions  # asked each time: tests swap the app's engine
        self._wakeups = wakeups
        self._settings = settings
        self._active: _Active | None = None
        self.passes = 0  # looks made: what a test compares the database's statements against
        wakeups.on_resync = self._resync

    @property
    def reads_allowed(self) -> int:
        """Connections the streams may hold at once: half the pool, so requests find the rest."""
        return max(1, self._settings.db_pool_size // 2)

    @property
    def retry_seconds(self) -> float:
        """How long a stream whose read failed waits before reading again (a second at least)."""
        return max(self._settings.notification_poll_seconds, 1.0)

    @contextlib.asynccontextmanager
    async def open(
        self, member_id: uuid.UUID, *, after_seq: int, session_id: uuid.UUID | None = None
    ) -> AsyncIterator[OpenStream]:
        """Register a stream that has sent everything up to `after_seq`, opened by the login
        `session_id` (it ends when that login does); it starts woken."""
        active = self._active
        if active is None:
            active = self._active = _Active(asyncio.Semaphore(self.reads_allowed), asyncio.Event())
        if active.task is None or active.task.done():  # new, or ended by a fault _run could not survive
            active.task = asyncio.create_task(self._run(active), name="notification-streams")
        async with self._wakeups.subscribe(member_id) as woken:
            stream = OpenStream(
                member_id=member_id, seq=after_seq, woken=woken, covered=after_seq, session_id=session_id
            )
            woken.set()
            active.streams.setdefault(member_id, set()).add(stream)
            try:
                yield stream
            finally:
                group = active.streams.get(member_id, set())
                group.discard(stream)
                if not group:
                    active.streams.pop(member_id, None)
                if not active.streams and self._active is active:
                    self._active = None  # a stream opening meanwhile starts a new period
                    # Stopped between looks, never cancelled inside one: a query cancelled
                    # midway costs its pooled connection (SQLite in memory: the database).
                    active.stopping = True
                    active.resync.set()
                    if active.task is not None:
                        await asyncio.shield(active.task)

    async def read(self, stream: OpenStream, *, limit: int) -> list[Notification] | None:
        """The stream's next notifications (ending it if its member may no longer act, or its
        login has ended), or None when the read failed and is to be tried again later."""
        active = self._active
        assert active is not None, "read only from an open stream"
        try:
            async with active.reads, self._sessions()() as session:
                if not await still_allowed(session, member_id=stream.member_id, session_id=stream.session_id):
                    stream.ended = True
                    return []
                return await service.after(session, member_id=stream.member_id, seq=stream.seq, limit=limit)
        except READ_FAILURES as exc:
            log.warning("notification_stream_read_failed", error=type(exc).__name__)
            return None

    def _resync(self) -> None:
        if self._active is not None:
            self._active.resync.set()

    async def _run(self, active: _Active) -> None:
        standing_due = 0.0
        while True:
            listening = self._wakeups.listening
            every = self._settings.notification_heartbeat_seconds
            with contextlib.suppress(TimeoutError):
                wait = every if listening else self._settings.notification_poll_seconds
                await asyncio.wait_for(active.resync.wait(), wait)
            if active.stopping:
                return
            active.resync.clear()
            check_standing = time.monotonic() >= standing_due
            try:
                await self.look(active, check_standing=check_standing)
            except READ_FAILURES as exc:
                log.warning("notification_streams_look_failed", error=type(exc).__name__)
                continue
            except Exception:
                # Anything else is a bug, but the look is every stream's only wake-up on SQLite
                # and their standing check everywhere: logged, and the next look goes on.
                log.exception("notification_streams_look_crashed")
                continue
            if check_standing:
                standing_due = time.monotonic() + every

    async def look(self, active: _Active | None = None, *, check_standing: bool = True) -> None:
        """One look over every open stream: wake those whose member has news; end those whose
        member may no longer act, or whose login has ended (a logout, a password change, a
        revoked session: their access token gets 401 from the next request, and their stream
        ends within a heartbeat). One query for each, however many streams are open."""
        active = active or self._active
        if active is None or not active.streams:
            return
        self.passes += 1
        members = list(active.streams)
        logins = {s.session_id for group in active.streams.values() for s in group if s.session_id}
        gone: set[uuid.UUID] = set()
        ended: set[uuid.UUID] = set()
        async with active.reads, self._sessions()() as session:
            counters = await service.latest_seqs(session, members=members)
            if check_standing:
                gone = await shut_out(session, member_ids=members)
                ended = await sessions.ended_among(session, session_ids=logins) if logins else set()
        for member_id, counter in counters.items():
            for stream in active.streams.get(member_id, ()):
                stream.offer(counter)
        for member_id, group in list(active.streams.items()):
            for stream in group:
                if member_id in gone or stream.session_id in ended:
                    stream.ended = True
                    stream.woken.set()
