"""UTC time: the column type that stores it (the accepted bounds are app.core.instants)."""

import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from app.core.instants import utcnow

__all__ = ["UTCDateTime", "utcnow"]


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; always hands back an aware UTC datetime (which survives SQLite, which stores
    datetimes without a zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        # SQLite compares datetimes as text: keep one format, without the offset.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_log = logging.getLogger("app.core.timeutil")


def stored_zone(name: str | None) -> ZoneInfo:
    """The zone a stored row names (an IANA name, checked when it was written), or UTC when the
    time zone data shipped now no longer has it: a tzdata release may drop a name (2020b dropped
    US/Pacific-New), and one such row must not make every list, feed or job that reads it fail.
    Logged, so an operator can correct the row."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        _log.warning("stored time zone %r is unknown to this tzdata; read as UTC", name)
        return ZoneInfo("UTC")
