"""Bit masks that let SQL apply the language and availability filters before Python sees a row.

Each mask is a superset test: a pair the exact filter (`filters.first_failure`) accepts always
passes its mask test, so SQL may drop only pairs that could never match; a few that pass the
masks still fail the exact filter, which runs on every row SQL returns. A mask of -1 (every bit
set) is what a row gets when nothing is known, and it passes every test.

Languages: one bit per ISO 639-1 code, its permanent number in `app.bit_numbers.LANGUAGE`, where
up to three rarely spoken codes share a bit.

Availability: the hours of the UTC week (Monday 00:00 UTC is hour 0) during which a volunteer
may be free, 168 bits in three words of 56. A slot is on the volunteer's wall clock, so it is
placed once for every UTC offset their zone takes in the years of every accepted instant
(app.core.instants) under the installed time zone
rules (standard and summer time, and any other). A need marks the UTC hours its window touches,
from two hours before its start when it is shorter than two hours: a window that straddles a
clock going forward covers more wall-clock time than its own length, and no zone's clock jumps
by more than two hours. An offer without slots is flexible and sets every bit.
"""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from app.bit_numbers import LANGUAGE
from app.core.instants import EARLIEST, LATEST
from app.matching.facts import Slot, slots_from
from app.vocab import LANGUAGE_BITS

ALL = -1
WORD_HOURS = 56
WEEK_HOURS = 7 * 24
WORDS = WEEK_HOURS // WORD_HOURS
MAX_CLOCK_JUMP = timedelta(hours=2)
_WORD_ALL = (1 << WORD_HOURS) - 1
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday: hour-of-week counts from any Monday 00:00 UTC
_MINUTE = timedelta(minutes=1)


class TooManyLanguages(ValueError):
    """More distinct languages than one 64-bit mask holds: a batch run numbers the languages of
    its own needs and offers (app.matching.batch), and answers 422 when they do not fit."""


Week = tuple[int, int, int]
FLEXIBLE: Week = (_WORD_ALL, _WORD_ALL, _WORD_ALL)


def language_mask(codes: Iterable[str]) -> int:
    mask = 0
    for code in codes:
        mask |= 1 << LANGUAGE.get(code, LANGUAGE_BITS - 1)
    return mask


@lru_cache(maxsize=1024)
def zone_offsets(timezone: str) -> frozenset[int]:
    """Every UTC offset, in minutes, the zone takes at some noon (UTC) in the accepted years."""
    zone = ZoneInfo(timezone)
    day = datetime(EARLIEST.year, 1, 1, 12, tzinfo=UTC)
    seen: set[int] = set()
    while day.year < LATEST.year:
        offset = day.astimezone(zone).utcoffset()
        assert offset is not None
        seen.add(int(offset.total_seconds()) // 60)
        day += timedelta(days=1)
    return frozenset(seen)


def _words(hours: Iterable[int]) -> Week:
    words = [0] * WORDS
    for hour in hours:
        h = hour % WEEK_HOURS
        words[h // WORD_HOURS] |= 1 << (h % WORD_HOURS)
    return words[0], words[1], words[2]


def _touched(first_minute: int, end_minute: int) -> range:
    """The hours that minutes [first_minute, end_minute) of the week touch (may pass the week's end)."""
    return range(first_minute // 60, -(-end_minute // 60))


@lru_cache(maxsize=65536)
def offer_week(slots: tuple[Slot, ...], timezone: str) -> Week:
    if not slots:
        return FLEXIBLE
    hours: set[int] = set()
    for offset in zone_offsets(timezone):
        for slot in slots:
            start = slot.day * 24 * 60 + slot.start - offset
            hours.update(_touched(start, start + slot.end - slot.start))
    return _words(hours)


def need_week(start: datetime, end: datetime) -> Week:
    try:
        return _need_week(start, end)
    except OverflowError:
        # A stored window at the very edge of the calendar: FLEXIBLE passes every superset test,
        # and the exact filter (app.matching.availability) settles the pair without raising.
        return FLEXIBLE


def _need_week(start: datetime, end: datetime) -> Week:
    # On a wall clock that jumps forward inside it, a window lasts up to two hours longer.
    if end - start + MAX_CLOCK_JUMP >= timedelta(days=7):
        return FLEXIBLE
    if end - start < MAX_CLOCK_JUMP:
        start -= MAX_CLOCK_JUMP
    first = (start - _EPOCH) // _MINUTE
    last = -((_EPOCH - end) // _MINUTE)
    return _words(_touched(first, last))


def offer_columns(
    languages: Iterable[str], availability: list[dict[str, str]], timezone: str
) -> dict[str, int]:
    """The offer's mask columns, from its stored lists."""
    week = offer_week(slots_from(availability), timezone)
    return {"languages_mask": language_mask(languages)} | {
        f"availability_mask_{i}": word for i, word in enumerate(week)
    }
