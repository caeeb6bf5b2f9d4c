"""Needs and offers as numpy columns, so a batch run tests and scores all its pairs at once.

Weekly slots and need windows live on the volunteer's wall clock in minutes of the week
(Monday 00:00 is 0). A window is one stretch of wall-clock time, so in those coordinates it is
one interval, or two where it runs past the end of the week: this is what lets the overlap of
every pair be computed in a few array operations rather than day by day.
"""

import math
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from app.matching.availability import window_in_week
from app.matching.facts import BACKGROUND_CHECKED, REMOTE, Context, NeedFacts, OfferFacts, week_minutes
from app.matching.scoring import WAIT_SATURATION_HOURS

WEEK = 7 * 24 * 60
F = NDArray[np.float64]
Ints = NDArray[np.int64]
Bools = NDArray[np.bool_]


def _floats(values: list[float]) -> F:
    return np.array(values, dtype=np.float64)


def _ints(values: list[int]) -> Ints:
    return np.array(values, dtype=np.int64)


def _bools(values: list[bool]) -> Bools:
    return np.array(values, dtype=np.bool_)


def language_bits(codes: Iterable[str], words: dict[str, int]) -> int:
    """The codes as bits of this run's own language list (only what its needs ask for)."""
    return sum(1 << words[code] for code in codes if code in words)


def _language_columns(spoken: Sequence[Iterable[str]], words: dict[str, int]) -> list[int]:
    """Each offer's languages as bits; few offers speak a combination no other offer does."""
    known: dict[tuple[str, ...], int] = {}
    out = []
    for codes in spoken:
        key = tuple(codes)
        if key not in known:
            known[key] = language_bits(key, words)
        out.append(known[key])
    return out


def _slot_arrays(weeks: list[list[tuple[int, int]]]) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
    """(most slots, offers) arrays of slot starts and ends; padding slots are empty. A row per
    slot position, so a pair's slots are gathered a row at a time (one-dimensional takes, twice
    as fast as gathering rows of an (offers, slots) array, measured on 2M pairs)."""
    start = np.zeros((max([len(w) for w in weeks] + [1]), len(weeks)), dtype=np.int32)
    end = np.zeros_like(start)
    for i, week in enumerate(weeks):
        for j, (first, last) in enumerate(week):
            start[j, i], end[j, i] = first, last
    return start, end


@dataclass
class OfferColumns:
    ids: list[uuid.UUID]
    lat: F
    lon: F
    reach: F
    free: Bools  # active, with capacity left
    load: F
    categories: Ints
    modes: Ints
    capabilities: Ints
    languages: Ints  # in bits of `words`, the run's own language list
    words: dict[str, int]
    volunteer: Ints  # index into volunteer_ids
    volunteer_ids: list[uuid.UUID]
    # By UUID.int: hashing a UUID runs Python code, hashing an int does not, and a run looks up
    # tens of thousands.
    volunteer_index: dict[int, int]
    timezone: Ints  # index into timezones
    timezones: list[str]
    slot_start: NDArray[np.int32]  # (most slots, offers) in minutes of the week; padding is empty
    slot_end: NDArray[np.int32]
    has_slots: Bools
    active: Bools  # not paused
    room: Bools  # fewer active matches than its capacity
    left: Ints  # capacity less active matches

    @classmethod
    def of(cls, offers: list[OfferFacts], words: dict[str, int]) -> "OfferColumns":
        weeks = [[(s.day * 1440 + s.start, s.day * 1440 + s.end) for s in o.slots] for o in offers]
        spoken = [o.languages for o in offers]

        def column(name: str) -> Sequence[Any]:
            return [getattr(o, name) for o in offers]

        return cls._build(column, spoken, weeks, words, active=[o.active for o in offers])

    @classmethod
    def from_rows(cls, rows: Sequence[Any], words: dict[str, int]) -> "OfferColumns":
        """From rows of active offers with the OfferFacts column names, `lat` and `lon` being the
        coarse point and `availability` and `languages` their JSON text (runs.gather): no
        OfferFacts, no Slot, for the tens of thousands of offers a run may read. The rows are
        turned into columns in one step rather than read a field at a time."""
        names: list[str] = list(getattr(rows[0], "_fields", ())) if rows else []
        columns: dict[str, Sequence[Any]] = (
            dict(zip(names, zip(*rows, strict=True), strict=True)) if names else {}
        )

        def column(name: str) -> Sequence[Any]:
            if name in columns:
                return columns[name]
            return [getattr(r, name) for r in rows]  # rows that are not tuples

        # Few offers speak a combination no other does: each distinct list is parsed once.
        texts = column("languages")
        parsed = {text: orjson.loads(text) for text in set(texts)}
        spoken = [parsed[text] for text in texts]
        weeks = [week_minutes(orjson.loads(text)) for text in column("availability")]
        return cls._build(column, spoken, weeks, words, active=[True] * len(rows))

    @classmethod
    def _build(
        cls,
        column: Callable[[str], Sequence[Any]],
        spoken: Sequence[Iterable[str]],
        weeks: list[list[tuple[int, int]]],
        words: dict[str, int],
        active: list[bool],
    ) -> "OfferColumns":
        # In the offers' order, not sorted: comparing UUIDs is slow, and the order changes nothing.
        volunteer_ids = column("volunteer_id")
        volunteers = {v.int: v for v in volunteer_ids}
        volunteer_index = {v: i for i, v in enumerate(volunteers)}
        zones = column("timezone")
        timezones = sorted(set(zones))
        zone_index = {z: i for i, z in enumerate(timezones)}
        start, end = _slot_arrays(weeks)
        capacity, taken = _ints(list(column("capacity"))), _ints(list(column("active_matches")))
        return cls(
            ids=list(column("id")),
            lat=_floats(list(column("lat"))),
            lon=_floats(list(column("lon"))),
            reach=_floats(list(column("max_distance_km"))),
            free=_bools(active) & (taken < capacity),
            load=1.0 - taken / capacity,
            categories=_ints(list(column("categories_mask"))),
            modes=_ints(list(column("modes_mask"))),
            capabilities=_ints(list(column("capabilities_mask"))),
            languages=_ints(_language_columns(spoken, words)),
            words=words,
            volunteer=_ints([volunteer_index[v.int] for v in volunteer_ids]),
            volunteer_ids=list(volunteers.values()),
            volunteer_index=volunteer_index,
            timezone=_ints([zone_index[z] for z in zones]),
            timezones=timezones,
            slot_start=start,
            slot_end=end,
            has_slots=_bools([bool(w) for w in weeks]),
            active=_bools(active),
            room=taken < capacity,
            left=capacity - taken,
        )


@dataclass
class NeedColumns:
    lat: F  # NaN where the need has no point
    lon: F
    limit: F  # the need's own reach; inf where it sets none
    category: Ints
    in_person: Bools
    languages: Ints
    language_count: Ints
    plain: Ints  # requirements other than a background check
    vetting: Bools  # asks for a background check
    organization: list[uuid.UUID | None]
    requester: Ints  # the requester as an offer volunteer index; -1 when they offer nothing
    waiting: F
    windowed: Bools
    # Per need and offer timezone: where the window begins on that zone's clock, in minutes of
    # the week, and how many minutes it lasts there (0 where the need has no window).
    begin: NDArray[np.int32]
    length: NDArray[np.int32]

    @classmethod
    def of(
        cls, needs: list[NeedFacts], offers: OfferColumns, ctx: Context, languages: dict[str, int]
    ) -> "NeedColumns":
        begin = np.zeros((len(needs), len(offers.timezones)), dtype=np.int32)
        length = np.zeros_like(begin)
        for i, n in enumerate(needs):
            if n.window_start is not None and n.window_end is not None:
                for z, zone in enumerate(offers.timezones):
                    begin[i, z], length[i, z] = _stretch(window_in_week(n.window_start, n.window_end, zone))
        return cls(
            lat=_floats([math.nan if n.lat is None else n.lat for n in needs]),
            lon=_floats([math.nan if n.lon is None else n.lon for n in needs]),
            limit=_floats([n.max_distance_km or math.inf for n in needs]),
            category=_ints([n.category_bit for n in needs]),
            in_person=_bools([n.mode_bit != REMOTE for n in needs]),
            languages=_ints([language_bits(n.languages, languages) for n in needs]),
            language_count=_ints([len(n.languages) for n in needs]),
            plain=_ints([n.requirements_mask & ~BACKGROUND_CHECKED for n in needs]),
            vetting=_bools([bool(n.requirements_mask & BACKGROUND_CHECKED) for n in needs]),
            organization=[n.organization_id for n in needs],
            requester=_ints(
                [offers.volunteer_index.get(n.requester_id.int, -1) if n.requester_id else -1 for n in needs]
            ),
            waiting=_floats([_waiting(n, ctx) for n in needs]),
            windowed=_bools([n.window_start is not None and n.window_end is not None for n in needs]),
            begin=begin,
            length=length,
        )


def _waiting(need: NeedFacts, ctx: Context) -> float:
    waited = max(0.0, (ctx.now - need.created_at).total_seconds() / 3600)
    return min(1.0, waited / WAIT_SATURATION_HOURS)


def _stretch(pieces: tuple[tuple[int, int, int], ...]) -> tuple[int, int]:
    """The window's pieces, which follow one another day after day, as (begin, minutes)."""
    if not pieces:
        return 0, 0
    day, first, _ = pieces[0]
    return day * 1440 + first, sum(finish - begin for _, begin, finish in pieces)


def overlap(need: NeedColumns, offer: OfferColumns, n: Ints, o: Ints) -> NDArray[np.int32]:
    """Minutes of each pair's window inside the offer's slots (the scalar `overlap_minutes`)."""
    zone = offer.timezone[o]
    begin, length = need.begin[n, zone], need.length[n, zone]
    # The window is [begin, begin + length) on a clock that wraps at the end of the week: its
    # part up to the week's end, then, for the few windows that wrap, the part from its start.
    finish = np.minimum(begin + length, WEEK)
    total = np.zeros(n.size, dtype=np.int32)
    for start, end in zip(offer.slot_start, offer.slot_end, strict=True):  # one slot position at a time
        inside = end.take(o)
        np.minimum(inside, finish, out=inside)
        inside -= np.maximum(start.take(o), begin)
        total += np.maximum(inside, 0)
    wraps = np.flatnonzero(begin + length > WEEK)
    if wraps.size:
        ow = o[wraps]
        after = np.minimum((begin[wraps] + length[wraps] - WEEK)[None, :], offer.slot_end[:, ow])
        after -= offer.slot_start[:, ow]
        total[wraps] += np.maximum(after, 0).sum(axis=0, dtype=np.int32)
    return total
