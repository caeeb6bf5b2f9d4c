"""A recurring need's occurrences: expansion against the shared day-by-day reference, and the
series' state (past, cancelled, next open, closing) read from the row."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.series import Limits
from app.dispatch.loading import need_facts
from app.needs import occurrences
from app.needs.models import Need, NeedStatus, OccurrenceStatus
from app.needs.views import effective_status
from tests.core.recurrence_reference import HORIZON, reference, series

LIMITS = Limits(max_occurrences=5000, horizon=HORIZON)
HOUR = timedelta(hours=1)


def _need(
    rule: str, start: datetime, zone: ZoneInfo, until: datetime | None, length: timedelta = HOUR
) -> Need:
    columns = occurrences.columns(
        window_start=start,
        window_end=start + length,
        timezone=str(zone),
        recurrence_body={"rule": rule, "until": until},
        limits=LIMITS,
    )
    return Need(
        category="groceries",
        title="Weekly shop",
        urgency="normal",
        mode="remote",
        window_start=start,
        window_end=start + length,
        timezone=str(zone),
        **columns,
    )


@settings(max_examples=60, deadline=None)
@given(series(), st.integers(0, 800))
def test_a_needs_occurrences_equal_the_day_by_day_reference(
    case: tuple[str, datetime, ZoneInfo, datetime | None], later_days: int
) -> None:
    text, start, zone, until = case
    need = _need(text, start, zone, until)
    expected = reference(dict(p.split("=") for p in text.split(";")), start, zone, until)
    before = start - timedelta(days=1)
    got = occurrences.listed(need, start=before, end=start + HORIZON + timedelta(days=1), now=before)
    assert [o.start for o in got] == expected
    assert {o.status for o in got} == {OccurrenceStatus.open}
    # Each lasts an hour on the need's clock, so its end is where that wall time lands.
    for o in got:
        wall = o.start.astimezone(zone).replace(tzinfo=None) + HOUR
        assert o.end == wall.replace(tzinfo=zone).astimezone(UTC)
    # The next open occurrence at any moment is the first whose end is still ahead; when none
    # is, the need has closed (expired), by the same stored column searches filter on.
    now = start + timedelta(days=later_days, hours=1)
    ahead = [o for o in got if o.end > now]
    assert occurrences.next_open(need, now) == ((ahead[0].start, ahead[0].end) if ahead else None)
    assert need.last_ends_at == got[-1].end


def test_ten_oclock_stays_ten_oclock_in_the_needs_zone_across_the_change() -> None:
    zone = ZoneInfo("Europe/London")
    start = datetime(2027, 3, 20, 10, tzinfo=zone).astimezone(UTC)  # clocks go forward on the 28th
    need = _need("FREQ=WEEKLY;COUNT=3", start, zone, None, length=2 * HOUR)
    got = occurrences.listed(need, start=start, end=start + timedelta(days=30), now=start)
    assert [(o.start.hour, o.end.hour) for o in got] == [(10, 12), (10, 12), (9, 11)]  # UTC


def test_past_cancelled_and_open_and_the_need_closes_with_its_last_open_occurrence() -> None:
    zone = ZoneInfo("America/New_York")
    start = datetime(2027, 1, 4, 9, tzinfo=zone).astimezone(UTC)
    need = _need("FREQ=DAILY;COUNT=4", start, zone, None)
    third = start + timedelta(days=2)
    need.cancelled_occurrences = [occurrences.key(start + timedelta(days=3))]
    need.last_ends_at = occurrences.last_open_end(need, set(need.cancelled_occurrences))
    now = start + timedelta(days=1, hours=2)
    got = occurrences.listed(need, start=start, end=start + timedelta(days=5), now=now)
    assert [o.status for o in got] == ["past", "past", "open", "cancelled"]
    assert occurrences.next_open(need, now) == (third, third + HOUR)
    # Matching reads the next open occurrence as the need's window.
    facts = need_facts(need, now)
    assert (facts.window_start, facts.window_end) == (third, third + HOUR)
    assert need.last_ends_at == third + HOUR
    need.status = NeedStatus.open
    assert effective_status(need) == NeedStatus.open
    need.last_ends_at = datetime(2020, 1, 1, tzinfo=UTC)  # every occurrence left is past
    assert effective_status(need) == NeedStatus.expired
