"""A recurring need's occurrences: its series' columns, each occurrence's status, the next open one.

A need's window is its first occurrence; with `recurrence_rule` it repeats on the wall clock of its
`timezone` (app/core/recurrence.py, the same subset and limits as activities), each occurrence as
long on that clock as the first. A one-off need with a window has that one occurrence. Functions
read any object with the need's column names, so batch runs can pass Core rows.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from app.core import recurrence, series
from app.core.errors import Invalid
from app.core.timeutil import stored_zone
from app.needs.models import OccurrenceStatus

NEED = series.Names(start="window_start", end="window_end", noun="need")
# The longest `from`..`to` one occurrences request may span.
MAX_RANGE = timedelta(days=366)


@dataclass(frozen=True)
class Occurrence:
    start: datetime
    end: datetime
    status: OccurrenceStatus


@lru_cache(maxsize=1024)
def _rule(text: str) -> recurrence.Rule:
    # Stored rules were accepted once; batch runs read the same few texts many times.
    return recurrence.parse(text)


def key(start: datetime) -> str:
    """How a cancelled start is stored: its UTC ISO text."""
    return start.astimezone(UTC).isoformat()


def recurs(need: Any) -> bool:
    return bool(need.recurrence_rule is not None and need.timezone and need.window_start and need.window_end)


def _starts(need: Any) -> Iterator[datetime]:
    if not recurs(need):
        if need.window_start is not None and need.window_end is not None:
            yield need.window_start
        return
    yield from recurrence.occurrences(
        _rule(need.recurrence_rule),
        first_start=need.window_start,
        zone=stored_zone(need.timezone),
        until=need.recurrence_until,
        # The series as accepted: later limits neither cut it short nor lengthen it.
        horizon=need.last_starts_at or need.window_start,
    )


def _windows(need: Any) -> Iterator[tuple[datetime, datetime]]:
    if not recurs(need):
        yield from ((s, need.window_end) for s in _starts(need))
        return
    zone = stored_zone(need.timezone)
    duration = series.wall_duration(need.window_start, need.window_end, zone)
    for start in _starts(need):
        yield start, series.end_of(start, duration, zone)


def _status(
    need: Any, start: datetime, end: datetime, now: datetime, cancelled: set[str]
) -> OccurrenceStatus:
    if end <= now:
        return OccurrenceStatus.past
    if key(start) in cancelled or need.status == "cancelled":
        return OccurrenceStatus.cancelled
    return OccurrenceStatus.open


def listed(need: Any, *, start: datetime, end: datetime, now: datetime) -> list[Occurrence]:
    """Occurrences that overlap [start, end), in order."""
    cancelled = set(need.cancelled_occurrences or ())
    out: list[Occurrence] = []
    for begins, ends in _windows(need):
        if begins >= end:
            break
        if ends > start:
            out.append(Occurrence(begins, ends, _status(need, begins, ends, now, cancelled)))
    return out


def find(need: Any, start: datetime, now: datetime) -> Occurrence | None:
    """The occurrence starting at `start`, or None when the series has none then."""
    cancelled = set(need.cancelled_occurrences or ())
    for begins, ends in _windows(need):
        if begins > start:
            return None
        if begins == start:
            return Occurrence(begins, ends, _status(need, begins, ends, now, cancelled))
    return None


def one_of(need: Any, start: datetime, now: datetime) -> Any | None:
    """A detached copy of the need whose only window is its open occurrence at `start` (what a
    match naming that occurrence is judged against); None when no open occurrence starts then."""
    found = find(need, start, now) if recurs(need) else None
    if found is None or found.status != OccurrenceStatus.open:
        return None
    # A new transient row, not a copy sharing the stored one's ORM state: nothing here is saved.
    single = {"window_start": found.start, "window_end": found.end, "recurrence_rule": None}
    return type(need)(**(need.model_dump() | single))


def next_open(need: Any, now: datetime) -> tuple[datetime, datetime] | None:
    """The window of the first occurrence not ended nor cancelled: what matching checks
    availability against. None when none is left (or the need has no window)."""
    cancelled = set(need.cancelled_occurrences or ())
    for begins, ends in _windows(need):
        if ends > now and key(begins) not in cancelled:
            return begins, ends
    return None


def last_open_end(need: Any, cancelled: set[str]) -> datetime | None:
    """When the last occurrence not cancelled ends (None when every one is)."""
    found = None
    for begins, ends in _windows(need):
        if key(begins) not in cancelled:
            found = ends
    return found


def columns(
    *,
    window_start: datetime | None,
    window_end: datetime | None,
    timezone: str | None,
    recurrence_body: dict[str, Any] | None,
    limits: series.Limits,
) -> dict[str, Any]:
    """The series' columns for a create or an edit (an edit starts again with none cancelled);
    Invalid (422) naming the field and the reason when the series breaks a rule or the limits."""
    if recurrence_body is None or window_start is None or window_end is None or timezone is None:
        return dict.fromkeys(("recurrence_rule", "recurrence_until", "last_starts_at", "last_ends_at")) | {
            "cancelled_occurrences": []
        }
    plan = series.build(
        starts_at=window_start,
        ends_at=window_end,
        timezone=timezone,
        rule_text=recurrence_body["rule"],
        until=recurrence_body.get("until"),
        limits=limits,
        names=NEED,
    )
    return {
        "recurrence_rule": plan.rule.text if plan.rule is not None else None,
        "recurrence_until": plan.until,
        "last_starts_at": plan.starts[-1],
        "last_ends_at": plan.last_ends_at,
        "cancelled_occurrences": [],
    }


def query_range(
    start: datetime | None, end: datetime | None, now: datetime, limits: series.Limits
) -> tuple[datetime, datetime]:
    """An occurrences request's [from, to): defaults, and 422 for a range backwards, longer than
    MAX_RANGE, or reaching past the recurrence horizon from now."""
    begin = start or now
    until = end or begin + MAX_RANGE
    if until <= begin:
        raise Invalid("to must be after from.", loc=["query", "to"])
    if until - begin > MAX_RANGE:
        raise Invalid(f"from..to may span at most {MAX_RANGE.days} days.", loc=["query", "to"])
    if until > now + limits.horizon + MAX_RANGE:
        raise Invalid(
            f"to must be within {limits.horizon.days + MAX_RANGE.days} days from now "
            "(no series reaches further).",
            loc=["query", "to"],
        )
    return begin, until
