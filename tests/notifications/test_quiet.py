"""Quiet hours: when a mail or push made at a given instant may go, in the member's own zone."""

from datetime import UTC, datetime

import pytest

from app.notifications.quiet import due_at, quiet_until

NIGHT = {"start": "22:00", "end": "07:00"}
LUNCH = {"start": "12:30", "end": "14:00"}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "quiet", "zone", "until"),
    [
        # Within one day: from the start (inclusive) to the end (exclusive).
        ("2026-06-10 12:29", LUNCH, "UTC", None),
        ("2026-06-10 12:30", LUNCH, "UTC", "2026-06-10 14:00"),
        ("2026-06-10 13:59", LUNCH, "UTC", "2026-06-10 14:00"),
        ("2026-06-10 14:00", LUNCH, "UTC", None),
        # Across midnight: the evening part runs to the next morning, the morning part to this one.
        ("2026-06-10 21:59", NIGHT, "UTC", None),
        ("2026-06-10 22:00", NIGHT, "UTC", "2026-06-11 07:00"),
        ("2026-06-10 23:59", NIGHT, "UTC", "2026-06-11 07:00"),
        ("2026-06-11 00:00", NIGHT, "UTC", "2026-06-11 07:00"),
        ("2026-06-11 06:59", NIGHT, "UTC", "2026-06-11 07:00"),
        ("2026-06-11 07:00", NIGHT, "UTC", None),
        # Read in the member's zone: 21:30 UTC is 23:30 in Paris (summer, UTC+2), quiet until
        # 07:00 Paris, 05:00 UTC; and the UTC date is not the local one.
        ("2026-06-10 21:30", NIGHT, "Europe/Paris", "2026-06-11 05:00"),
        ("2026-06-10 19:30", NIGHT, "Europe/Paris", None),
        # 23:30 UTC is 05:00 the next morning in Kolkata (UTC+05:30): quiet until 07:00 there.
        ("2026-06-10 23:30", NIGHT, "Asia/Kolkata", "2026-06-11 01:30"),
        # A window ending at midnight (24:00) ends at the next midnight.
        ("2026-06-10 23:00", {"start": "21:00", "end": "24:00"}, "UTC", "2026-06-11 00:00"),
    ],
)
def test_windows(now: str, quiet: dict[str, str], zone: str, until: str | None) -> None:
    expected = utc(until) if until else None
    assert quiet_until(utc(now), quiet, zone) == expected


def test_across_the_night_the_clocks_go_forward() -> None:
    """London, 29 March 2026: 01:00 GMT becomes 02:00 BST. Quiet from 22:00 to 07:00 began at
    22:00 GMT and ends at 07:00 BST, which is 06:00 UTC: eight hours, not nine."""
    assert quiet_until(utc("2026-03-28 23:00"), NIGHT, "Europe/London") == utc("2026-03-29 06:00")
    assert quiet_until(utc("2026-03-29 05:59"), NIGHT, "Europe/London") == utc("2026-03-29 06:00")
    assert quiet_until(utc("2026-03-29 06:00"), NIGHT, "Europe/London") is None


def test_across_the_night_the_clocks_go_back() -> None:
    """London, 25 October 2026: 02:00 BST becomes 01:00 GMT. 22:00 BST is 21:00 UTC; the night
    ends at 07:00 GMT, 07:00 UTC: ten hours."""
    assert quiet_until(utc("2026-10-24 21:00"), NIGHT, "Europe/London") == utc("2026-10-25 07:00")
    assert quiet_until(utc("2026-10-24 20:59"), NIGHT, "Europe/London") is None


def test_an_end_the_clocks_skip_or_repeat() -> None:
    """New York. 8 March 2026 skips 02:00-03:00: an end of 02:30 is read with the offset before
    the change (RFC 5545 3.3.5), 07:30 UTC, which the clocks show as 03:30. 1 November 2026
    shows 01:00-02:00 twice: an end of 01:30 is the first of them (EDT, 05:30 UTC)."""
    skipped = {"start": "01:00", "end": "02:30"}
    assert quiet_until(utc("2026-03-08 06:30"), skipped, "America/New_York") == utc("2026-03-08 07:30")
    repeated = {"start": "00:00", "end": "01:30"}
    assert quiet_until(utc("2026-11-01 04:30"), repeated, "America/New_York") == utc("2026-11-01 05:30")


def test_due_is_now_outside_quiet_hours_or_without_any() -> None:
    now = utc("2026-06-10 12:00")
    assert due_at(now, None, "UTC") == now
    assert due_at(now, NIGHT, "Europe/Berlin") == now
    assert due_at(utc("2026-06-10 23:00"), NIGHT, "UTC") == utc("2026-06-11 07:00")
