"""What organisations ask of the safety domain: may a coordinator add this member?

Safety (app/safety) reads organisations' memberships for its report queues, so organisations
must not import it; `app.main.connect_domains` connects its answer here. Until then the default
below serves (anyone may be added), as in a process that adds no members.
"""

import uuid
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession


class MayMeet(Protocol):
    """Whether two members may meet: False when either blocked the other."""

    async def __call__(self, session: AsyncSession, *, one: uuid.UUID, other: uuid.UUID) -> bool: ...


async def anyone(session: AsyncSession, *, one: uuid.UUID, other: uuid.UUID) -> bool:
    return True


_connected: list[MayMeet] = [anyone]


def connect(may_meet: MayMeet) -> None:
    _connected[:] = [may_meet]


def may_meet() -> MayMeet:
    return _connected[0]
