"""RRULE expansion against a day-by-day reference, in zones with odd offsets and DST rules."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.activities.recurrence import RuleError, expand, parse, starts_series

ZONES = ["Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"]
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
HORIZON = timedelta(days=731)


def _months(a: date, b: date) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


def _nth(day: date) -> tuple[int, int]:
    """Which of its weekday in the month the day is, from the start and from the end."""
    following = [d for d in range(day.day, 32) if _real(day.year, day.month, d)]
    return (day.day - 1) // 7 + 1, -((len(following) - 1) // 7 + 1)


def _real(y: int, m: int, d: int) -> bool:
    try:
        date(y, m, d)
    except ValueError:
        return False
    return True


def _keeps(parts: dict[str, str], first: date, day: date) -> bool:
    """Whether `day` is in the rule's set, read straight from RFC 5545's words."""
    freq, interval = parts["FREQ"], int(parts.get("INTERVAL", "1"))
    days = parts["BYDAY"].split(",") if "BYDAY" in parts else []
    if freq == "DAILY" and (day - first).days % interval:
        return False
    if freq == "WEEKLY":
        monday = first - timedelta(days=first.weekday())
        if ((day - monday).days // 7) % interval:
            return False
        return DAYS[day.weekday()] in (days or [DAYS[first.weekday()]])
    if freq == "MONTHLY":
        if _months(first, day) % interval:
            return False
        if "BYMONTHDAY" not in parts and not days:
            return day.day == first.day
    if "BYMONTHDAY" in parts:
        last = max(d for d in range(28, 32) if _real(day.year, day.month, d))
        wanted = {int(d) if int(d) > 0 else last + 1 + int(d) for d in parts["BYMONTHDAY"].split(",")}
        if day.day not in wanted:
            return False
    if days:
        nth = _nth(day)
        named = DAYS[day.weekday()]
        return any(d == named or d in (f"{nth[0]}{named}", f"{nth[1]}{named}") for d in days)
    return True


def reference(
    parts: dict[str, str], start: datetime, zone: ZoneInfo, until: datetime | None
) -> list[datetime]:
    local = start.astimezone(zone)
    first, clock = local.date(), local.time()
    ends = [start + HORIZON]
    if until is not None:
        ends.append(until)
    if "UNTIL" in parts:
        ends.append(datetime.strptime(parts["UNTIL"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC))
    out: list[datetime] = []
    day = first
    while True:
        moment = datetime.combine(day, clock).replace(tzinfo=zone).astimezone(UTC)
        if moment > min(ends) or ("COUNT" in parts and len(out) == int(parts["COUNT"])):
            return out
        if _keeps(parts, first, day):
            out.append(moment)
        day += timedelta(days=1)


@st.composite
def series(draw: st.DrawFn) -> tuple[str, datetime, ZoneInfo, datetime | None]:
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    day = date(2027, 1, 1) + timedelta(days=draw(st.integers(0, 364)))
    clock = time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 15, 30, 45])))
    start = datetime.combine(day, clock).replace(tzinfo=zone).astimezone(UTC)
    local = start.astimezone(zone)  # a start in a skipped hour moves; rules follow where it lands
    freq = draw(st.sampled_from(["DAILY", "WEEKLY", "MONTHLY"]))
    parts = [f"FREQ={freq}", f"INTERVAL={draw(st.integers(1, 3))}"]
    own = DAYS[local.weekday()]
    others = draw(st.lists(st.sampled_from(DAYS), max_size=3))
    shape = draw(st.sampled_from(["plain", "byday", "bymonthday", "nth"]))
    if shape == "byday" or (shape != "plain" and freq != "MONTHLY"):
        parts.append("BYDAY=" + ",".join(dict.fromkeys([own, *others])))
    elif shape == "bymonthday":
        extra = draw(st.lists(st.sampled_from([1, 15, 28, 31, -1]), max_size=2))
        parts.append("BYMONTHDAY=" + ",".join(str(d) for d in dict.fromkeys([local.day, *extra])))
    elif shape == "nth":
        parts.append(f"BYDAY={draw(st.sampled_from(_nth(local.date())))}{own}")
    end = draw(st.sampled_from(["count", "until", "none"]))
    if end == "count":
        parts.append(f"COUNT={draw(st.integers(1, 60))}")
    elif end == "until":
        parts.append(f"UNTIL={start + timedelta(days=draw(st.integers(0, 400))):%Y%m%dT%H%M%SZ}")
    until = start + timedelta(days=draw(st.integers(0, 800))) if draw(st.booleans()) else None
    return ";".join(parts), start, zone, until


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
