"""Waking a process's open streams when their member is notified: Postgres LISTEN/NOTIFY, or
nothing (streams poll) on SQLite.

The inbox is the source of truth: a wake-up only says "look again", so a lost or repeated one
costs a query, never an event. When the listener connects or is lost, it calls `on_resync`:
the streams' hub (app.notifications.hub) then looks at every open stream in one query, rather than
each stream reading its inbox at once. On Postgres, `notify` sends NOTIFY inside the writing
transaction, which Postgres delivers at commit and drops on rollback, to every process that
listens: whichever worker holds a member's stream hears of it. One listening connection per
process, opened while at least one stream is open and closed with the last.
"""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable

import psycopg
import structlog
from sqlalchemy import make_url

from app.core.config import Settings

log = structlog.get_logger(__name__)
RETRY_SECONDS = 1.0


class Wakeups:
    def __init__(self, settings: Settings, channel: str) -> None:
        self._waiting: dict[uuid.UUID, set[asyncio.Event]] = {}
        self._channel = channel
        self._timeout = settings.db_connect_timeout_seconds
        url = make_url(settings.database_url)
        self._conninfo = (
            None
            if settings.is_sqlite
            else url.set(drivername="postgresql").render_as_string(hide_password=False)
        )
        self._task: asyncio.Task[None] | None = None
        self.listening = False  # True while NOTIFYs reach this process; else streams poll
        # Called when wake-ups may have been missed (the listener connected or was lost).
        self.on_resync: Callable[[], None] = self.wake

    @contextlib.asynccontextmanager
    async def subscribe(self, member_id: uuid.UUID) -> AsyncIterator[asyncio.Event]:
        """An event set whenever `member_id` may have new notifications (the caller clears it)."""
        woken = asyncio.Event()
        self._waiting.setdefault(member_id, set()).add(woken)
        if self._conninfo is not None and self._task is None:
            self._task = asyncio.create_task(self._listen(self._conninfo), name="notification-listener")
        try:
            yield woken
        finally:
            waiting = self._waiting.get(member_id, set())
            waiting.discard(woken)
            if not waiting:
                self._waiting.pop(member_id, None)
            if not self._waiting and self._task is not None:
                task, self._task = self._task, None  # a stream opening meanwhile starts a new one
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def wake(self, member_id: uuid.UUID | None = None) -> None:
        """Wake `member_id`'s streams, or every stream when None."""
        groups = self._waiting.values() if member_id is None else [self._waiting.get(member_id, set())]
        for group in groups:
            for woken in group:
                woken.set()

    async def _listen(self, conninfo: str) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    conninfo, autocommit=True, connect_timeout=self._timeout
                ) as conn:
                    await conn.execute(f'LISTEN "{self._channel}"')
                    self.listening = True
                    # Anything committed before LISTEN took effect was not heard: look again.
                    self.on_resync()
                    async for note in conn.notifies():
                        self._wake_payload(note.payload)
            except psycopg.Error as exc:
                log.warning("notification_listener_lost", error=type(exc).__name__)
            finally:
                self.listening = False
            self.on_resync()  # streams go back to polling until the connection returns
            await asyncio.sleep(RETRY_SECONDS)

    def _wake_payload(self, payload: str) -> None:
        try:
            self.wake(uuid.UUID(payload))
        except ValueError:
            self.wake()
