"""Instants the service accepts: the bounds every one keeps to, and their UTC forms (pure)."""

from datetime import UTC, datetime, timedelta

# Every instant the service accepts lies in [EARLIEST, LATEST). Far inside what `datetime` can
# hold in any zone (offsets stay under a day), so converting one to a volunteer's clock, adding a
# week to it or writing it as a Unix time never overflows; and it covers the years the masks
# place zone offsets for (app.matching.masks).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
# A need's window is about help that can still be given: it ends within two years from now and
# starts at most a year ago (a long-running need filed late may have started before it was).
WINDOW_HORIZON = timedelta(days=731)
WINDOW_PAST = timedelta(days=366)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime | None:
    """An aware datetime in UTC, or None when its UTC form is not representable."""
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def in_bounds(value: datetime) -> bool:
    return EARLIEST <= value < LATEST
