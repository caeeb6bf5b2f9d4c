"""The SQL masks never refuse a pair the exact filters accept, and hold the bits they should."""

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app.matching.availability import overlap_minutes, window_in_week
from app.matching.facts import Slot
from app.matching.masks import FLEXIBLE, language_mask, need_week, offer_week, zone_offsets
from app.vocab import ISO_639_1

# Zones with summer time, half- and quarter-hour offsets, a 30-minute and a 2-hour clock change.
ZONES = [
    "UTC",
    "Europe/London",
    "America/New_York",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Antarctica/Troll",
    "America/St_Johns",
]
MONDAY = datetime(2024, 1, 8, tzinfo=UTC)


def _overlaps(a: tuple[int, int, int], b: tuple[int, int, int]) -> bool:
    return any(x & y for x, y in zip(a, b, strict=True))


def _clock_changes(zone: str, year: int) -> list[datetime]:
    tz, t, out = ZoneInfo(zone), datetime(year, 1, 1, tzinfo=UTC), []
    before = t.astimezone(tz).utcoffset()
    while t.year == year:
        t += timedelta(minutes=15)
        if (now := t.astimezone(tz).utcoffset()) != before:
            out.append(t)
            before = now
    return out


def _random_slots(rng: random.Random, zone: str, start: datetime, end: datetime) -> tuple[Slot, ...]:
    """A few slots anywhere in the week, and often one near the window on the volunteer's clock."""
    starts = [(rng.randrange(7), rng.randrange(0, 1440, 5)) for _ in range(rng.randint(0, 2))]
    if rng.random() < 0.7 or not starts:
        near = (start + (end - start) * rng.random() + timedelta(minutes=rng.randrange(-90, 90))).astimezone(
            ZoneInfo(zone)
        )
        starts.append((near.weekday(), near.hour * 60 + near.minute))
    return tuple(Slot(day, at, min(1440, at + rng.choice([5, 30, 60, 240]))) for day, at in starts)


def test_availability_masks_keep_every_available_pair_even_across_clock_changes() -> None:
    rng = random.Random(3)
    windows = []
    for zone in ZONES:
        for change in _clock_changes(zone, 2030):
            for _ in range(300):  # windows that straddle or touch the change, some very short
                start = change - timedelta(minutes=rng.randrange(0, 180))
                windows.append((zone, start, change + timedelta(minutes=rng.randrange(1, 180))))
    for _ in range(3000):
        start = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 365 * 1440))
        windows.append((rng.choice(ZONES), start, start + timedelta(minutes=rng.choice([30, 90, 600, 9000]))))
    available = 0
    for zone, start, end in windows:
        slots = _random_slots(rng, zone, start, end)
        if overlap_minutes(window_in_week(start, end, zone), slots) > 0:
            available += 1
            assert _overlaps(offer_week(slots, zone), need_week(start, end)), (zone, start, end, slots)
    assert available > 3000  # the property was tried on many pairs that really overlap


def test_an_offer_without_slots_and_a_window_of_a_week_pass_every_test() -> None:
    assert offer_week((), "Europe/London") == FLEXIBLE
    assert need_week(MONDAY, MONDAY + timedelta(days=7)) == FLEXIBLE
    assert need_week(MONDAY, MONDAY + timedelta(days=7) - timedelta(hours=2)) == FLEXIBLE
    assert _overlaps(offer_week((Slot(6, 1380, 1440),), "UTC"), FLEXIBLE)


def test_slots_are_placed_for_every_offset_of_their_zone() -> None:
    monday_ten = (Slot(0, 600, 660),)  # Monday 10:00-11:00 on the volunteer's clock
    assert zone_offsets("Europe/London") == frozenset({0, 60})
    assert offer_week(monday_ten, "UTC") == (1 << 10, 0, 0)
    assert offer_week(monday_ten, "Europe/London") == (1 << 10 | 1 << 9, 0, 0)  # GMT, and BST
    assert offer_week(monday_ten, "Asia/Kolkata") == (1 << 4 | 1 << 5, 0, 0)  # 04:30-05:30 UTC
    sunday_night = (Slot(6, 23 * 60, 1440),)  # the last hour of the week, wrapping for UTC+1
    assert offer_week(sunday_night, "UTC") == (0, 0, 1 << 55)
    assert offer_week((Slot(0, 0, 60),), "America/New_York") == (1 << 4 | 1 << 5, 0, 0)


def test_a_need_marks_the_hours_its_window_touches() -> None:
    assert need_week(MONDAY + timedelta(hours=10), MONDAY + timedelta(hours=13)) == (0b111 << 10, 0, 0)
    # Shorter than the largest clock change: two more hours before it.
    short = need_week(MONDAY + timedelta(hours=10, minutes=30), MONDAY + timedelta(hours=12, minutes=15))
    assert short == (0b11111 << 8, 0, 0)
    wednesday = need_week(MONDAY + timedelta(days=2, hours=7), MONDAY + timedelta(days=2, hours=10))
    assert wednesday == (1 << 55, 0b11, 0)  # Wednesday 07:00 is hour 55 of the week


def test_language_masks_never_refuse_a_shared_language() -> None:
    codes = sorted(ISO_639_1)
    assert language_mask([]) == 0
    assert language_mask(["en"]) == 1 << 36  # its permanent bit (app.bit_numbers.LANGUAGE)
    assert language_mask(["aa"]) == language_mask(["ia"]) == language_mask(["pi"]) == 1  # they share bit 0
    rng = random.Random(5)
    for _ in range(2000):
        need, offer = set(rng.sample(codes, 2)), set(rng.sample(codes, 3))
        if need & offer:
            assert language_mask(need) & language_mask(offer)
