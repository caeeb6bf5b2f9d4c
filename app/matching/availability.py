"""Does a need's window meet a volunteer's weekly availability, in the volunteer's own timezone?"""

import logging
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from app.core.instants import in_bounds
from app.matching.facts import Slot

log = logging.getLogger(__name__)


@lru_cache(maxsize=16384)
def window_in_week(start: datetime, end: datetime, timezone: str) -> tuple[tuple[int, int, int], ...]:
    """The window as (weekday, start minute, end minute) pieces of local wall-clock days.

    A window of a week or more covers every day whole. Wall clock, because a volunteer's
    "Saturday 10:00-13:00" means their clock's 10:00 whatever the offset that day.

    Never raises: a stored window outside the times the API accepts (app.core.timeutil; written
    before it bounded them, or by hand), or one that cannot be placed on the zone's clock (a zone
    the installed rules lack), has no pieces, so it meets no slot, and is logged once per zone.
    One such row must not fail a search for everyone near it; and it is refused the same way on
    every clock, not only on those whose local form of it `datetime` cannot hold."""
    why = None if in_bounds(start) and in_bounds(end) else "outside the accepted range"
    if why is None:
        try:
            return _pieces(start, end, timezone)
        except (OverflowError, ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
            why = type(exc).__name__
    log.warning(
        "need window %s..%s cannot be placed in zone %r (%s); it meets no slot",
        start.isoformat(),
        end.isoformat(),
        timezone,
        why,
    )
    return ()


def _pieces(start: datetime, end: datetime, timezone: str) -> tuple[tuple[int, int, int], ...]:
    zone = ZoneInfo(timezone)
    local_start, local_end = (
        start.astimezone(zone).replace(tzinfo=None),
        end.astimezone(zone).replace(tzinfo=None),
    )
    if local_end - local_start >= timedelta(days=7):
        return tuple((day, 0, 24 * 60) for day in range(7))
    pieces = []
    cursor = local_start
    while cursor < local_end:
        midnight = datetime(cursor.year, cursor.month, cursor.day) + timedelta(days=1)
        piece_end = min(midnight, local_end)
        begin = cursor.hour * 60 + cursor.minute
        finish = 24 * 60 if piece_end == midnight else piece_end.hour * 60 + piece_end.minute
        if finish > begin:
            pieces.append((cursor.weekday(), begin, finish))
        cursor = midnight
    return tuple(pieces)


def overlap_minutes(pieces: tuple[tuple[int, int, int], ...], slots: tuple[Slot, ...]) -> int:
    total = 0
    for day, begin, finish in pieces:
        for slot in slots:
            if slot.day == day:
                total += max(0, min(finish, slot.end) - max(begin, slot.start))
    return total


def window_minutes(pieces: tuple[tuple[int, int, int], ...]) -> int:
    return sum(finish - begin for _, begin, finish in pieces)
