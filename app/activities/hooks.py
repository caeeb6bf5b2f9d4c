"""What activities ask of a domain beside them: telling members what changed.

Notifications tell people what changed, and sit beside activities, so `app.main.connect_domains`
connects their answer here. Until it connects one, the default below serves: a change is written
to the log (ids only). Who may meet whom is no hook: the block rule sits below activities
(app/safety/blocks.py), and `app.activities.service.may_see` asks it directly, as its SQL form
does.
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


class Tell(Protocol):
    async def __call__(
        self, session: AsyncSession, *, activity_id: uuid.UUID, member_ids: list[uuid.UUID], change: Change
    ) -> None: ...


@dataclass(frozen=True)
class ActivityHooks:
    # Members to tell, in the request's transaction (an outbox row commits with the change).
    tell: Tell


async def log_change(
    session: AsyncSession, *, activity_id: uuid.UUID, member_ids: list[uuid.UUID], change: Change
) -> None:
    log.info(
        "activity_change",
        activity_id=str(activity_id),
        change=str(change),
        member_ids=[str(m) for m in member_ids],
    )


DEFAULTS = ActivityHooks(tell=log_change)
_connected: list[ActivityHooks] = [DEFAULTS]


def connect(hooks: ActivityHooks) -> None:
    _connected[:] = [hooks]


def hooks() -> ActivityHooks:
    return _connected[0]
