"""Quiet hours: when a mail or push that falls inside a member's quiet window may go out instead.

The window is wall-clock time in the member's zone (`start` inclusive, `end` exclusive) and
may span midnight (22:00 to 07:00). The inbox and the live stream never wait; only mail and
push are held, by giving their outbox rows a first due time at the window's end.
"""

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.core.timeutil import stored_zone


def _clock(hhmm: str) -> time | None:
    """`HH:MM`; `24:00` is the end of the day (None)."""
    if hhmm == "24:00":
        return None
    hours, minutes = hhmm.split(":")
    return time(int(hours), int(minutes))


def _instant(day: date, at: time | None, zone: ZoneInfo) -> datetime:
    """The UTC instant the wall clock in `zone` reads `at` on `day` (None: the next midnight).

    As RFC 5545 (3.3.5) reads local times: a time skipped by a DST change (02:30 on a spring-
    forward night) is read with the offset before the change, so it falls just after the gap
    (03:30); a time that happens twice (01:30 on a fall-back night) is the first of the two.
    That is `fold=0` in zoneinfo."""
    if at is None:
        day, at = day + timedelta(days=1), time(0, 0)
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def quiet_until(now: datetime, quiet_hours: Mapping[str, Any] | None, timezone: str) -> datetime | None:
    """When the quiet window holding `now` ends, in UTC; None when `now` is outside every window
    (or there are none). `quiet_hours` is `{"start": "HH:MM", "end": "HH:MM"}` as stored in
    the member's notification settings, `timezone` an IANA name."""
    if not quiet_hours:
        return None
    start, end = _clock(str(quiet_hours["start"])), _clock(str(quiet_hours["end"]))
    zone = stored_zone(timezone)
    local = now.astimezone(zone)
    today, clock = local.date(), local.time().replace(tzinfo=None)
    if start is None:  # a start of 24:00 is the next midnight: the window starts at 00:00
        start = time(0, 0)
    if end is not None and start < end:  # within one day: 13:00 to 15:00
        return _instant(today, end, zone) if start <= clock < end else None
    # Across midnight (22:00 to 07:00; an end of 24:00 ends at midnight): the evening part runs
    # to the next morning's end, the morning part to this morning's.
    if clock >= start:
        return (
            _instant(today + timedelta(days=1), end, zone) if end is not None else _instant(today, None, zone)
        )
    if end is not None and clock < end:
        return _instant(today, end, zone)
    return None


def due_at(now: datetime, quiet_hours: Mapping[str, Any] | None, timezone: str) -> datetime:
    """When a mail or push made `now` may first be sent: now, or the end of the quiet window."""
    return quiet_until(now, quiet_hours, timezone) or now
