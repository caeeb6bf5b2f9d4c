"""Recurring series (activities, needs): the RFC 5545 RRULE subset accepted, and its expansion (pure).

A rule is `FREQ=DAILY|WEEKLY|MONTHLY` with optional `INTERVAL`, `BYDAY` (weekly: `MO`..`SU`;
monthly also `1MO`, `-1FR`), `BYMONTHDAY` (1..31 or -31..-1), and at most one of `COUNT` and
`UNTIL` (`YYYYMMDD` or `YYYYMMDDTHHMMSSZ`, as RFC 5545 asks when DTSTART carries a zone).
Occurrences are expanded on the series' wall clock (python-dateutil's rrule over naive local
times) and only then placed in its zone, so a 10:00 walk or shop stays at 10:00 local across DST. A local
time that a spring-forward skips is read with the offset before the change (zoneinfo's fold=0).
"""

import re
from calendar import monthrange
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, rrule, weekday, weekdays

FREQUENCIES: dict[str, Literal[0, 1, 2, 3, 4, 5, 6]] = {"DAILY": DAILY, "WEEKLY": WEEKLY, "MONTHLY": MONTHLY}
DAYS = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}
KNOWN = ("FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "COUNT", "UNTIL")
_BYDAY = re.compile(r"^([+-]?[1-5])?(MO|TU|WE|TH|FR|SA|SU)$")
_UNTIL = re.compile(r"^(\d{8})(T(\d{6})Z)?$")
MAX_INTERVAL = 366
# The longest rule text, sent or stored (the columns `needs.recurrence_rule` and
# `activities.recurrence_rule`, and the body's `recurrence.rule`).
MAX_TEXT = 200


def zone_of(name: str) -> ZoneInfo | None:
    """The IANA zone of that name, or None when there is none (or the name is a path trick)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


class RuleError(ValueError):
    """The rule cannot be accepted; the message says why, for the client."""


@dataclass(frozen=True)
class Rule:
    """A parsed rule; `text` is its normal form (parts in a fixed order, no `RRULE:`)."""

    freq: str
    interval: int = 1
    byday: tuple[tuple[int | None, int], ...] = ()
    bymonthday: tuple[int, ...] = ()
    count: int | None = None
    until: datetime | None = None  # UTC

    @property
    def text(self) -> str:
        parts = [f"FREQ={self.freq}"]
        if self.interval != 1:
            parts.append(f"INTERVAL={self.interval}")
        if self.byday:
            names = {n: d for d, n in DAYS.items()}
            parts.append("BYDAY=" + ",".join(f"{'' if n is None else n}{names[d]}" for n, d in self.byday))
        if self.bymonthday:
            parts.append("BYMONTHDAY=" + ",".join(str(d) for d in self.bymonthday))
        if self.count is not None:
            parts.append(f"COUNT={self.count}")
        if self.until is not None:
            parts.append(f"UNTIL={self.until:%Y%m%dT%H%M%SZ}")
        return ";".join(parts)


def _int(name: str, value: str, low: int, high: int) -> int:
    if not re.fullmatch(r"[+-]?\d{1,4}", value) or not low <= int(value) <= high:
        raise RuleError(f"{name} must be a whole number from {low} to {high}")
    return int(value)


def _byday(value: str, freq: str) -> tuple[tuple[int | None, int], ...]:
    days: list[tuple[int | None, int]] = []
    for item in value.split(","):
        found = _BYDAY.match(item)
        if found is None:
            raise RuleError(f"BYDAY value {item!r} is not a day (MO..SU), or a numbered one like 1MO, -1FR")
        if found.group(1) is not None and freq != "MONTHLY":
            raise RuleError("a numbered BYDAY (like 1MO) needs FREQ=MONTHLY")
        days.append((None if found.group(1) is None else int(found.group(1)), DAYS[found.group(2)]))
    return tuple(days)


def _until(value: str) -> datetime:
    found = _UNTIL.match(value)
    if found is None:
        raise RuleError("UNTIL must be YYYYMMDD or YYYYMMDDTHHMMSSZ (UTC)")
    try:
        stamp = found.group(1) + (found.group(3) or "235959")
        return datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        raise RuleError("UNTIL is not a real date") from None


def parse(text: str) -> Rule:
    """A rule from its RRULE text; RuleError says what is wrong."""
    body = text.strip().removeprefix("RRULE:")
    if not body.isascii():
        # RFC 5545's grammar is ASCII: Python's `\d` and `upper()` would read other scripts' digits
        # and letters (an Arabic-Indic three, a long s) as ASCII ones: the rule stored would not be
        # the one sent.
        raise RuleError("an RRULE is ASCII text (RFC 5545): digits 0-9 and the letters of its names only")
    parts: dict[str, str] = {}
    for part in body.split(";"):
        name, sep, value = part.partition("=")
        name = name.upper()
        if not sep or not value:
            raise RuleError(f"{part!r} is not NAME=VALUE")
        if name not in KNOWN:
            raise RuleError(f"{name} is not supported; use only {', '.join(KNOWN)}")
        if name in parts:
            raise RuleError(f"{name} appears twice")
        parts[name] = value.upper()
    freq = parts.get("FREQ")
    if freq not in FREQUENCIES:
        raise RuleError("FREQ is required and must be DAILY, WEEKLY or MONTHLY")
    if "COUNT" in parts and "UNTIL" in parts:
        raise RuleError("COUNT and UNTIL cannot both be given (RFC 5545)")
    if "BYMONTHDAY" in parts and freq != "MONTHLY":
        raise RuleError("BYMONTHDAY needs FREQ=MONTHLY")
    monthdays = tuple(_int("BYMONTHDAY", d, -31, 31) for d in parts.get("BYMONTHDAY", "").split(",") if d)
    if 0 in monthdays:
        raise RuleError("BYMONTHDAY must be from 1 to 31 or -31 to -1")
    return Rule(
        freq=freq,
        interval=_int("INTERVAL", parts["INTERVAL"], 1, MAX_INTERVAL) if "INTERVAL" in parts else 1,
        byday=_byday(parts["BYDAY"], freq) if "BYDAY" in parts else (),
        bymonthday=monthdays,
        count=_int("COUNT", parts["COUNT"], 1, 9999) if "COUNT" in parts else None,
        until=_until(parts["UNTIL"]) if "UNTIL" in parts else None,
    )


def check_storable(rule: Rule) -> None:
    """RuleError when the rule's normal form, which is what is stored, is over MAX_TEXT: it may
    be longer than the text sent (a date-only UNTIL becomes a UTC date-time, 8 characters more).
    For new input only: `parse` still reads any stored rule (SQLite kept such rules before)."""
    if len(rule.text) > MAX_TEXT:
        raise RuleError(
            f"the rule's normal form is {len(rule.text)} characters, over {MAX_TEXT} "
            "(a date-only UNTIL is kept as a UTC date-time, 8 characters more)"
        )


def _day_matches(rule: Rule, day: date) -> bool:
    last = monthrange(day.year, day.month)[1]
    if rule.bymonthday and not any(d in (day.day, day.day - last - 1) for d in rule.bymonthday):
        return False
    if not rule.byday:
        return True
    nth, nth_from_end = (day.day - 1) // 7 + 1, -((last - day.day) // 7 + 1)
    return any(wd == day.weekday() and n in (None, nth, nth_from_end) for n, wd in rule.byday)


def starts_series(rule: Rule, local_start: datetime) -> bool:
    """Whether the first start is itself an occurrence of the rule. Checked before expanding:
    a rule its start does not keep to may never match at all (DAILY;INTERVAL=7;BYDAY=TU from a
    Monday), and dateutil would then search for centuries."""
    return _day_matches(rule, local_start.date())


def placed(local: datetime, zone: ZoneInfo) -> datetime:
    """A naive wall-clock time in `zone`, as UTC (fold=0: the earlier of a repeated hour)."""
    return local.replace(tzinfo=zone).astimezone(UTC)


def expand(
    rule: Rule,
    *,
    first_start: datetime,
    zone: ZoneInfo,
    until: datetime | None,
    horizon: datetime,
    limit: int,
) -> list[datetime]:
    """Occurrence starts (UTC, ascending) from `first_start` up to the earliest of the rule's
    UNTIL, `until` and `horizon`; at most `limit + 1` of them, so a caller can tell "too many"."""
    starts: list[datetime] = []
    for start in occurrences(rule, first_start=first_start, zone=zone, until=until, horizon=horizon):
        starts.append(start)
        if len(starts) > limit:
            break
    return starts


def occurrences(
    rule: Rule, *, first_start: datetime, zone: ZoneInfo, until: datetime | None, horizon: datetime
) -> Iterator[datetime]:
    """The same starts as `expand`, lazily: a reader that wants the next one stops there."""
    local_start = first_start.astimezone(zone).replace(tzinfo=None)
    ends = [t for t in (rule.until, until, horizon) if t is not None]
    last = min(ends)
    byweekday: list[weekday] | None = None
    if rule.byday:
        byweekday = [weekdays[d] if n is None else weekdays[d](n) for n, d in rule.byday]
    local_rule = rrule(
        FREQUENCIES[rule.freq],
        dtstart=local_start,
        interval=rule.interval,
        byweekday=byweekday,
        bymonthday=list(rule.bymonthday) or None,
        count=rule.count,
        # Generous on the wall clock (zones are within a day of UTC); each start is checked in UTC.
        # Not with COUNT, which RFC 5545 (and dateutil) will not combine with UNTIL.
        until=None if rule.count is not None else last.replace(tzinfo=None) + timedelta(days=1),
    )
    for local in local_rule:
        start = placed(local, zone)
        if start > last:
            return
        if start >= first_start:
            yield start
