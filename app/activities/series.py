"""The series an activity's times describe: checked against the limits, with its stored summary.

One place turns (starts_at, ends_at, timezone, recurrence) into the columns a create or an edit
writes, so both keep the same rules: the first start is an occurrence of the rule, at most
`max_occurrences` fall within `horizon` of it, and the series has not already ended.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.activities import recurrence
from app.core.errors import Invalid
from app.core.instants import WINDOW_HORIZON, utcnow

# An occurrence may last at most this long (a weekend's gardening, an overnight shift).
MAX_DURATION = timedelta(days=14)


@dataclass(frozen=True)
class Limits:
    max_occurrences: int
    horizon: timedelta


@dataclass(frozen=True)
class Series:
    rule: recurrence.Rule | None
    until: datetime | None
    starts: list[datetime]  # UTC, ascending; starts[0] is the first start
    last_ends_at: datetime

    def columns(self) -> dict[str, Any]:
        return {
            "recurrence_rule": self.rule.text if self.rule is not None else None,
            "recurrence_until": self.until,
            "last_ends_at": self.last_ends_at,
            "occurrence_count": len(self.starts),
        }


def wall_duration(starts_at: datetime, ends_at: datetime, zone: ZoneInfo) -> timedelta:
    """How long an occurrence lasts on the activity's clock (10:00 to 12:00 is two hours, also on
    the day the clocks change)."""
    return ends_at.astimezone(zone).replace(tzinfo=None) - starts_at.astimezone(zone).replace(tzinfo=None)


def end_of(start: datetime, duration: timedelta, zone: ZoneInfo) -> datetime:
    return recurrence.placed(start.astimezone(zone).replace(tzinfo=None) + duration, zone)


def _invalid(message: str, *field: str) -> Invalid:
    return Invalid(message, loc=["body", *field])


def build(
    *,
    starts_at: datetime,
    ends_at: datetime,
    timezone: str,
    rule_text: str | None,
    until: datetime | None,
    limits: Limits,
) -> Series:
    """The series, or Invalid (422) naming the field and the reason."""
    if ends_at <= starts_at:
        raise _invalid("ends_at must be after starts_at.", "ends_at")
    if ends_at - starts_at > MAX_DURATION:
        raise _invalid(f"An occurrence may last at most {MAX_DURATION.days} days.", "ends_at")
    if starts_at > utcnow() + WINDOW_HORIZON:
        raise _invalid("starts_at must be within two years from now.", "starts_at")
    zone = ZoneInfo(timezone)
    duration = wall_duration(starts_at, ends_at, zone)
    if rule_text is None:
        series = Series(rule=None, until=None, starts=[starts_at], last_ends_at=ends_at)
    else:
        series = _recurring(starts_at, zone, duration, rule_text, until, limits)
    if series.last_ends_at <= utcnow():
        raise _invalid("The activity (its last occurrence) has already ended.", "ends_at")
    return series


def _recurring(
    starts_at: datetime,
    zone: ZoneInfo,
    duration: timedelta,
    rule_text: str,
    until: datetime | None,
    limits: Limits,
) -> Series:
    try:
        rule = recurrence.parse(rule_text)
    except recurrence.RuleError as exc:
        raise _invalid(f"recurrence.rule: {exc}.", "recurrence", "rule") from None
    if not recurrence.starts_series(rule, starts_at.astimezone(zone).replace(tzinfo=None)):
        raise _invalid(
            "starts_at must itself be an occurrence of the rule (a day its BYDAY and BYMONTHDAY "
            "allow, in the activity's timezone).",
            "starts_at",
        )
    for name, bound in (("UNTIL", rule.until), ("until", until)):
        if bound is not None and bound < starts_at:
            raise _invalid(f"The recurrence's {name} is before starts_at.", "recurrence")
    starts = recurrence.expand(
        rule,
        first_start=starts_at,
        zone=zone,
        until=until,
        horizon=starts_at + limits.horizon,
        limit=limits.max_occurrences,
    )
    if not starts or starts[0] != starts_at:
        # Only a start in the second pass of a repeated hour (clocks going back) reads differently.
        raise _invalid("starts_at falls in an hour the clocks repeat; choose another time.", "starts_at")
    if len(starts) > limits.max_occurrences:
        raise _invalid(
            f"The rule gives more than {limits.max_occurrences} occurrences within "
            f"{limits.horizon.days} days of the first; add COUNT or UNTIL, or repeat less often.",
            "recurrence",
            "rule",
        )
    return Series(rule=rule, until=until, starts=starts, last_ends_at=end_of(starts[-1], duration, zone))
