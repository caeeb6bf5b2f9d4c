"""What safety asks of the domains above it: moderation finds and removes a report's subject
and tells listeners of a decision; a new block ends the pair's matches.

Needs, offers, matches and dispatch import safety (the crisis code, the block rule), so safety
sits below them and must not import them (every arrow points down). `app.main.connect_domains`
connects the functions here. A resolved report is announced to the listeners connected here
(notifications: the reported member is told the decision and its statement of reasons, the
reporter the outcome; neither is ever told who the reporter was).
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.callers import Caller
from app.safety.reporting import Report


@dataclass(frozen=True)
class Subject:
    """A reportable thing as the caller found it."""

    type: str
    id: uuid.UUID
    member_id: uuid.UUID | None  # the member it is about: told the decision, suspended by `suspend`
    organization_id: uuid.UUID | None  # whose coordinators moderate it


class Find(Protocol):
    """The subject when it exists AND the caller may see it; None otherwise (never a hint which)."""

    async def __call__(
        self, session: AsyncSession, *, caller: Caller, subject_id: uuid.UUID
    ) -> Subject | None: ...


class Remove(Protocol):
    """Take the subject out of circulation; a subject already gone is left as it is."""

    async def __call__(self, session: AsyncSession, *, subject_id: uuid.UUID, now: datetime) -> None: ...


class EndMatches(Protocol):
    """Cancel the member's proposed and accepted matches, on either side, telling the other side
    (webhooks) as any cancellation does; the number cancelled."""

    async def __call__(self, session: AsyncSession, *, member_id: uuid.UUID, now: datetime) -> int: ...


class Resolved(Protocol):
    async def __call__(self, session: AsyncSession, report: Report) -> None: ...


@dataclass(frozen=True)
class Domains:
    find: Mapping[str, Find]  # by subject type; a type without a finder has nothing to find
    remove: Mapping[str, Remove]  # by subject type; members are suspended instead
    end_matches: EndMatches
    # Told of every resolution, in the resolving transaction (so an outbox row commits with it).
    resolved: tuple[Resolved, ...] = field(default=())


_connected: list[Domains] = []


def connect(domains: Domains) -> None:
    _connected[:] = [domains]


def domains() -> Domains:
    if not _connected:
        raise RuntimeError(
            "Moderation is not connected to the domains: app.main.connect_domains connects it."
        )
    return _connected[0]


class PairParted(Protocol):
    """Cancel every proposed or accepted match between the two members, giving back slots and
    capacity, in the caller's transaction; the first member is the one who acted (not told)."""

    async def __call__(
        self, session: AsyncSession, *, members: tuple[uuid.UUID, uuid.UUID], now: datetime
    ) -> None: ...


_parted: list[PairParted] = []


def connect_parted(*listeners: PairParted) -> None:
    """Each domain where two members can be together (matches, activities) ends it here."""
    _parted[:] = list(listeners)


def parted() -> PairParted:
    if not _parted:
        raise RuntimeError("Matches are not connected to safety: app.main.connect_domains connects them.")

    async def every(session: AsyncSession, *, members: tuple[uuid.UUID, uuid.UUID], now: datetime) -> None:
        for listener in _parted:
            await listener(session, members=members, now=now)

    return every
