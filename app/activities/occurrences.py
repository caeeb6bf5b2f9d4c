"""An activity's occurrences as its series was accepted: the first `occurrence_count` starts of its
rule on its own wall clock (app/core/recurrence.py), each as long on that clock as the first."""

from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache

from app.activities.models import Activity
from app.core import recurrence, series
from app.core.timeutil import stored_zone


@lru_cache(maxsize=1024)
def _rule(text: str) -> recurrence.Rule:
    return recurrence.parse(text)  # stored rules were accepted once


def windows(activity: Activity) -> Iterator[tuple[datetime, datetime]]:
    """(start, end) of each occurrence, in order (UTC)."""
    if activity.recurrence_rule is None:
        yield activity.starts_at, activity.ends_at
        return
    zone = stored_zone(activity.timezone)
    duration = series.wall_duration(activity.starts_at, activity.ends_at, zone)
    starts = recurrence.occurrences(
        _rule(activity.recurrence_rule),
        first_start=activity.starts_at,
        zone=zone,
        until=activity.recurrence_until,
        horizon=activity.last_ends_at,
    )
    for n, start in enumerate(starts):
        if n >= activity.occurrence_count:
            return
        yield start, series.end_of(start, duration, zone)


def starting_within(activity: Activity, after: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    """The occurrences starting in (after, until]."""
    out = []
    for start, end in windows(activity):
        if start > until:
            break
        if start > after:
            out.append((start, end))
    return out
