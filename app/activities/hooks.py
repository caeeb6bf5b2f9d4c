"""What activities ask of the domains above them: may two members meet, and telling members.

Blocks (app/safety) decide whether a joiner may meet a host, and notifications tell people
what changed; both sit above or beside activities, so `app.main.connect_domains` connects
their answers here. Until it connects others, the defaults below serve: every pair may meet,
and a change is written to the log (ids only) for the notifications domain to take over.
"""

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from app.observability.logs import get_logger

log = get_logger(__name__)


class Change(StrEnum):
    promoted = "promoted"  # moved from the waitlist to a confirmed place
    cancelled = "cancelled"  # the activity was cancelled
    removed = "removed"  # the host took the member off the activity


class MayMeet(Protocol):
    async def __call__(self, session: AsyncSession, *, host_id: uuid.UUID, member_id: uuid.UUID) -> bool: ...


class Tell(Protocol):
    async def __call__(
        self, session: AsyncSession, *, activity_id: uuid.UUID, member_ids: list[uuid.UUID], change: Change
    ) -> None: ...


@dataclass(frozen=True)
class ActivityHooks:
    # Host and joiner: False refuses the join (as if the activity were not there to join).
    may_meet: MayMeet
    # Members to tell, in the request's transaction (an outbox row commits with the change).
    tell: Tell


async def everyone_may_meet(session: AsyncSession, *, host_id: uuid.UUID, member_id: uuid.UUID) -> bool:
    return True


async def log_change(
    session: AsyncSession, *, activity_id: uuid.UUID, member_ids: list[uuid.UUID], change: Change
) -> None:
    log.info(
        "activity_change",
        activity_id=str(activity_id),
        change=str(change),
        member_ids=[str(m) for m in member_ids],
    )


DEFAULTS = ActivityHooks(may_meet=everyone_may_meet, tell=log_change)
_connected: list[ActivityHooks] = [DEFAULTS]


def connect(hooks: ActivityHooks) -> None:
    _connected[:] = [hooks]


def hooks() -> ActivityHooks:
    return _connected[0]
