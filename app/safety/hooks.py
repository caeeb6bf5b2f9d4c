"""What a new block asks of the matches domain, which sits above safety: end the pair's matches.

Matches, needs, offers and dispatch all ask safety whether two members are blocked, so safety
must not import them (every arrow points down); `app.main.connect_domains` connects the
matches domain's answer here once.
"""

import uuid
from datetime import datetime
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession


class PairParted(Protocol):
    async def __call__(
        self, session: AsyncSession, *, members: tuple[uuid.UUID, uuid.UUID], now: datetime
    ) -> None: ...


_connected: list[PairParted] = []


def connect(parted: PairParted) -> None:
    """`parted` cancels every proposed or accepted match between the two members, giving back
    slots and capacity, in the caller's transaction."""
    _connected[:] = [parted]


def parted() -> PairParted:
    if not _connected:
        raise RuntimeError("Matches are not connected to safety: app.main.create_app connects them.")
    return _connected[0]
