"""RRULE expansion against a day-by-day reference, in zones with odd offsets and DST rules."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given

from app.core.recurrence import RuleError, expand, parse, starts_series
from tests.core.recurrence_reference import HORIZON, reference, series


@given(series())
def test_expansion_matches_the_day_by_day_reference(
    case: tuple[str, datetime, ZoneInfo, datetime | None],
) -> None:
    text, start, zone, until = case
    rule = parse(text)
    parts = dict(p.split("=") for p in text.split(";"))
    local = start.astimezone(zone).replace(tzinfo=None)
    assert starts_series(rule, local)
    got = expand(rule, first_start=start, zone=zone, until=until, horizon=start + HORIZON, limit=5000)
    assert got == reference(parts, start, zone, until)
    assert parse(rule.text) == rule
    # Wall-clock time holds across DST, except on a day whose clock skips that time.
    for moment in got:
        back = moment.astimezone(zone)
        if back.replace(tzinfo=None).time() != local.time():
            skipped = datetime.combine(back.date(), local.time()).replace(tzinfo=zone)
            assert skipped.astimezone(UTC).astimezone(zone).time() != local.time()


def test_ten_oclock_stays_ten_oclock_across_the_spring_change() -> None:
    zone = ZoneInfo("Europe/London")
    start = datetime(2027, 3, 20, 10, tzinfo=zone).astimezone(UTC)  # the change is on 28 March
    got = expand(
        parse("FREQ=WEEKLY;COUNT=3"),
        first_start=start,
        zone=zone,
        until=None,
        horizon=start + HORIZON,
        limit=10,
    )
    assert [m.astimezone(zone).hour for m in got] == [10, 10, 10]
    assert [m.hour for m in got] == [10, 10, 9]  # in UTC: the 27th is still GMT, 3 April is BST


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("FREQ=YEARLY", "FREQ is required and must be DAILY, WEEKLY or MONTHLY"),
        ("FREQ=WEEKLY;BYHOUR=9", "BYHOUR is not supported"),
        ("FREQ=WEEKLY;COUNT=2;UNTIL=20270101", "COUNT and UNTIL cannot both be given"),
        ("FREQ=WEEKLY;BYDAY=XX", "BYDAY value 'XX' is not a day"),
        ("FREQ=WEEKLY;BYDAY=1MO", "a numbered BYDAY (like 1MO) needs FREQ=MONTHLY"),
        ("FREQ=DAILY;BYMONTHDAY=3", "BYMONTHDAY needs FREQ=MONTHLY"),
        ("FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY must be from 1 to 31"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL must be a whole number from 1 to 366"),
        ("FREQ=DAILY;UNTIL=20270230", "UNTIL is not a real date"),
        ("FREQ=DAILY;FREQ=WEEKLY", "FREQ appears twice"),
        ("FREQ", "'FREQ' is not NAME=VALUE"),
        ("FREQ=WEEKLY;COUNT=\u0663", "an RRULE is ASCII text"),  # an Arabic-Indic three
        ("FREQ=WEEKLY;BYDAY=\u017fu", "an RRULE is ASCII text"),  # long s: upper() makes it SU
        ("FREQ=DAILY;UNTIL=\uff12\uff10\uff12\uff17\uff10\uff11\uff10\uff11", "an RRULE is ASCII text"),
    ],
)
def test_a_bad_rule_says_why(text: str, reason: str) -> None:
    with pytest.raises(RuleError) as raised:
        parse(text)
    assert str(raised.value).startswith(reason)


def test_a_start_off_the_rule_is_caught_before_expanding() -> None:
    monday = datetime(2027, 1, 4, 10)
    assert not starts_series(parse("FREQ=DAILY;INTERVAL=7;BYDAY=TU"), monday)
    assert starts_series(parse("FREQ=MONTHLY;BYDAY=1MO"), monday)
    assert not starts_series(parse("FREQ=MONTHLY;BYDAY=-1MO"), monday)
    assert starts_series(parse("FREQ=MONTHLY;BYMONTHDAY=-28"), monday)  # January: 31 - 28 + 1 = 4
