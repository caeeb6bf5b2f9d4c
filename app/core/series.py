"""The series a recurring thing's times describe (activities, needs): checked against the limits,
with its stored summary, and the request and response shapes of a recurrence.

One place turns (first start, first end, timezone, recurrence) into the columns a create or an
edit writes, so every domain keeps the same rules: the first start is an occurrence of the rule, at most
`max_occurrences` fall within `horizon` of it, and the series has not already ended.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import StringConstraints
from sqlmodel import Field, SQLModel

from app.core import recurrence
from app.core.config import Settings
from app.core.errors import Invalid
from app.core.instants import WINDOW_HORIZON, utcnow
from app.core.schema import Instant, RequestBody

# An occurrence may last at most this long (a weekend's gardening, an overnight shift).
MAX_DURATION = timedelta(days=14)


class Recurrence(RequestBody):
    rule: Annotated[str, StringConstraints(min_length=1, max_length=recurrence.MAX_TEXT)] = Field(
        description="RFC 5545 RRULE: FREQ=DAILY|WEEKLY|MONTHLY; INTERVAL, BYDAY, BYMONTHDAY, COUNT, UNTIL.",
        schema_extra={"examples": ["FREQ=WEEKLY;BYDAY=SA"]},
    )
    until: Instant | None = Field(default=None, description="No occurrence starts after this.")


class RecurrenceView(SQLModel):
    rule: str = Field(description="The RRULE in normal form (parts in a fixed order).")
    until: datetime | None


def recurrence_view(rule: str | None, until: datetime | None) -> dict[str, Any] | None:
    return {"rule": rule, "until": until} if rule is not None else None


@dataclass(frozen=True)
class Limits:
    max_occurrences: int
    horizon: timedelta

    @classmethod
    def of(cls, settings: Settings) -> "Limits":
        """RECURRENCE_MAX_OCCURRENCES and the horizon, as every domain reads them."""
        return cls(
            max_occurrences=settings.recurrence_max_occurrences,
            horizon=timedelta(days=settings.recurrence_horizon_days),
        )


@dataclass(frozen=True)
class Names:
    """What a domain calls the first occurrence's bounds, for the 422s' `loc` and wording."""

    start: str
    end: str
    noun: str


ACTIVITY = Names(start="starts_at", end="ends_at", noun="activity")


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
    """How long an occurrence lasts on the series' clock (10:00 to 12:00 is two hours, also on
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
    names: Names = ACTIVITY,
) -> Series:
    """The series, or Invalid (422) naming the field and the reason."""
    if ends_at <= starts_at:
        raise _invalid(f"{names.end} must be after {names.start}.", names.end)
    if ends_at - starts_at > MAX_DURATION:
        raise _invalid(f"An occurrence may last at most {MAX_DURATION.days} days.", names.end)
    if starts_at > utcnow() + WINDOW_HORIZON:
        raise _invalid(f"{names.start} must be within two years from now.", names.start)
    zone = ZoneInfo(timezone)
    duration = wall_duration(starts_at, ends_at, zone)
    if rule_text is None:
        series = Series(rule=None, until=None, starts=[starts_at], last_ends_at=ends_at)
    else:
        series = _recurring(starts_at, zone, duration, rule_text, until, limits, names)
    if series.last_ends_at <= utcnow():
        raise _invalid(f"The {names.noun} (its last occurrence) has already ended.", names.end)
    return series


def _recurring(
    starts_at: datetime,
    zone: ZoneInfo,
    duration: timedelta,
    rule_text: str,
    until: datetime | None,
    limits: Limits,
    names: Names,
) -> Series:
    try:
        rule = recurrence.parse(rule_text)
        recurrence.check_storable(rule)
    except recurrence.RuleError as exc:
        raise _invalid(f"recurrence.rule: {exc}.", "recurrence", "rule") from None
    if not recurrence.starts_series(rule, starts_at.astimezone(zone).replace(tzinfo=None)):
        raise _invalid(
            f"{names.start} must itself be an occurrence of the rule (a day its BYDAY and BYMONTHDAY "
            f"allow, in the {names.noun}'s timezone).",
            names.start,
        )
    for name, bound in (("UNTIL", rule.until), ("until", until)):
        if bound is not None and bound < starts_at:
            raise _invalid(f"The recurrence's {name} is before {names.start}.", "recurrence")
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
        raise _invalid(f"{names.start} falls in an hour the clocks repeat; choose another time.", names.start)
    if len(starts) > limits.max_occurrences:
        raise _invalid(
            f"The rule gives more than {limits.max_occurrences} occurrences within "
            f"{limits.horizon.days} days of the first; add COUNT or UNTIL, or repeat less often.",
            "recurrence",
            "rule",
        )
    return Series(rule=rule, until=until, starts=starts, last_ends_at=end_of(starts[-1], duration, zone))
