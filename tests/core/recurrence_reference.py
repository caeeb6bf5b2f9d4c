"""A day-by-day reference for RRULE expansion, read straight from RFC 5545's words, and random
series in zones with odd offsets and DST rules: shared by every domain's recurrence tests."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

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
