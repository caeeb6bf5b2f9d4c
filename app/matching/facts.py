"""The facts about needs and offers that matching reads, detached from any ORM session."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from app.vocab import Capability, Category, Mode, mask

BACKGROUND_CHECKED = mask([Capability.background_checked], Capability)
REMOTE = mask([Mode.remote], Mode)


class Slot(NamedTuple):
    """A weekly window in the volunteer's timezone: day 0 = Monday, minutes from midnight.

    A tuple, not a dataclass: a batch run reads a hundred thousand of them from the database."""

    day: int
    start: int
    end: int


@dataclass(frozen=True)
class NeedFacts:
    id: uuid.UUID
    requester_id: uuid.UUID | None
    organization_id: uuid.UUID | None
    category_bit: int
    mode_bit: int
    # The coarse point: matching never looks at exact locations.
    lat: float | None
    lon: float | None
    max_distance_km: float | None
    languages: frozenset[str]
    requirements_mask: int
    window_start: datetime | None
    window_end: datetime | None
    urgency: str
    created_at: datetime

    @property
    def in_person(self) -> bool:
        return self.mode_bit != REMOTE


@dataclass(frozen=True)
class OfferFacts:
    id: uuid.UUID
    volunteer_id: uuid.UUID
    organization_id: uuid.UUID | None
    categories_mask: int
    modes_mask: int
    lat: float
    lon: float
    max_distance_km: float
    slots: tuple[Slot, ...]
    timezone: str
    capacity: int
    active_matches: int
    languages: frozenset[str]
    capabilities_mask: int
    active: bool
    display_name: str = ""


@dataclass
class Context:
    """What depends on more than the pair: history, vetting, pairs already joined."""

    now: datetime
    # Organisations that vetted each volunteer.
    vetted_by: dict[uuid.UUID, frozenset[uuid.UUID]] = field(default_factory=dict)
    # Completed matches between a volunteer and a requester.
    history: dict[tuple[uuid.UUID, uuid.UUID], int] = field(default_factory=dict)
    # (need, offer) pairs with a proposed or accepted match, and (need, volunteer) likewise:
    # one volunteer takes one slot of a need, whichever of their offers it comes through.
    active_pairs: set[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=set)
    active_volunteers: set[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=set)
    # Members suspended now (app.members.suspension): they neither give nor get help meanwhile.
    suspended: frozenset[uuid.UUID] = frozenset()
    # (member, member) pairs of whom one blocked the other, each pair in both orders, among the
    # requesters and volunteers at hand (app.safety.blocks): such a pair never meets.
    blocked: set[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=set)
    # Organisations whose needs only volunteers with a verified address may take, and the
    # volunteers at hand who verified theirs (loaded only when some organisation asks).
    verifying: frozenset[uuid.UUID] = frozenset()
    verified: set[uuid.UUID] = field(default_factory=set)
    # Bookkeeping for loading the above a pool at a time.
    requesters: frozenset[uuid.UUID] = frozenset()
    known_volunteers: set[uuid.UUID] = field(default_factory=set)


_CATEGORY_BITS = {c.value: mask([c], Category) for c in Category}
_MODE_BITS = {m.value: mask([m], Mode) for m in Mode}


def category_bit(category: str) -> int:
    return _CATEGORY_BITS[category]


def mode_bit(mode: str) -> int:
    return _MODE_BITS[mode]


_DAYS = {day: i for i, day in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))}
# Every "HH:MM" a slot may hold (validated on the way in): a lookup beats parsing, and candidate
# searches read thousands of slots a second.
_MINUTES = {f"{m // 60:02d}:{m % 60:02d}": m for m in range(24 * 60 + 1)}
_WEEK = {day: i * 24 * 60 for day, i in _DAYS.items()}  # where each day starts in the week


def slots_from(availability: list[dict[str, str]]) -> tuple[Slot, ...]:
    return tuple(Slot(_DAYS[s["day"]], _MINUTES[s["start"]], _MINUTES[s["end"]]) for s in availability)


def week_minutes(availability: list[dict[str, str]]) -> list[tuple[int, int]]:
    """The slots as [start, end) in minutes of the week (Monday 00:00 is 0)."""
    return [
        (_WEEK[s["day"]] + _MINUTES[s["start"]], _WEEK[s["day"]] + _MINUTES[s["end"]]) for s in availability
    ]
