"""What needs ask of the matches made on them, which sit above them.

A need's visibility depends on who was matched to it, cancelling it ends its matches, and a
need opened to the public alerts the volunteers nearby (dispatch's fan-out); needs
must not import matches (every arrow points down), so `app.main.create_app` connects the
matches domain's answers here once.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from app.needs.models import Need


class Relation(Protocol):
    async def __call__(
        self, session: AsyncSession, *, need_id: uuid.UUID, member_id: uuid.UUID
    ) -> str | None: ...


class NeedStep(Protocol):
    async def __call__(self, session: AsyncSession, *, need_id: uuid.UUID) -> None: ...


class NeedEnded(Protocol):
    async def __call__(
        self, session: AsyncSession, *, need_id: uuid.UUID, now: datetime, actor: uuid.UUID | None
    ) -> None: ...


@dataclass(frozen=True)
class MatchesOfNeed:
    # The member's closest tie to the need as a volunteer: "accepted", else "proposed", else None.
    relation: Relation
    # Lock the need's active matches, before the need itself (the order every match step keeps).
    lock: NeedStep
    # The need was cancelled (by `actor`, a member, or None for a key): end its active matches,
    # free their offers and tell their people (the caller commits).
    end: NeedEnded


_connected: list[MatchesOfNeed] = []


def connect(matches: MatchesOfNeed) -> None:
    _connected[:] = [matches]


def matches() -> MatchesOfNeed:
    if not _connected:
        raise RuntimeError("Matches are not connected to needs: app.main.create_app connects them.")
    return _connected[0]


class Published(Protocol):
    """Needs became open to the public (created public, one by one or in a partner's batch, or
    made public by an edit): tell the volunteers who asked to hear of such needs (`actor`, who
    acted, is never told)."""

    async def __call__(
        self, session: AsyncSession, *, needs: Sequence[Need], actor: uuid.UUID | None
    ) -> None: ...


_published: list[Published] = []


def connect_published(*listeners: Published) -> None:
    _published[:] = list(listeners)


async def published(session: AsyncSession, *, needs: Sequence[Need], actor: uuid.UUID | None) -> None:
    """Called in the request's transaction, after the needs' rows are written (none: nothing);
    the listeners only record what to tell, and tell it once the request has committed."""
    if not needs:
        return
    for listener in _published:
        await listener(session, needs=needs, actor=actor)
