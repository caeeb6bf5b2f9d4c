"""iCalendar (RFC 5545) documents, written with the `icalendar` library: the one place activities'
calendars and members' personal feeds are built.

Every time carries its zone's TZID, and the document a VTIMEZONE for each zone covering its
events from a year before the first to a year after the last, so calendar apps keep the local
time across DST. A recurring event carries its RRULE with an exact end (COUNT or UNTIL, as the
service expanded the series) and an EXDATE for each occurrence cancelled.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from app.core.timeutil import stored_zone

if TYPE_CHECKING:  # imported where a document is written: ~5 MB a server process rarely needs
    from icalendar import Event, vRecur

MEDIA_TYPE = "text/calendar"
_ENDS = ("COUNT", "UNTIL")


def rule(text: str, *, count: int | None = None, until: datetime | None = None) -> "vRecur":
    """A stored RRULE (app/core/recurrence.py's normal form) with its end replaced by `count`
    occurrences or by the last start `until` (UTC, as RFC 5545 asks when DTSTART has a TZID)."""
    from icalendar import vRecur

    parts = [p for p in text.split(";") if p.split("=")[0] not in _ENDS]
    if count is not None:
        parts.append(f"COUNT={count}")
    elif until is not None:
        parts.append(f"UNTIL={until.astimezone(UTC):%Y%m%dT%H%M%SZ}")
    recur: vRecur = vRecur.from_ical(";".join(parts))
    return recur


@dataclass(frozen=True)
class Entry:
    """One VEVENT: times are instants (UTC), written in `timezone`'s local time with its TZID."""

    uid: str
    summary: str
    start: datetime
    end: datetime
    timezone: str
    last_end: datetime  # when the series' last occurrence ends (`end` for a single event)
    sequence: int = 0
    description: str | None = None
    location: str | None = None
    geo: tuple[float, float] | None = None
    rrule: "vRecur | None" = None
    exdates: Sequence[datetime] = field(default_factory=tuple)
    cancelled: bool = False


def _zone(name: str) -> tzinfo:
    # UTC is written as UTC ("...Z"), which needs no VTIMEZONE.
    return UTC if name == "UTC" else stored_zone(name)


def _event(entry: Entry, now: datetime) -> "Event":
    from icalendar import Event

    zone = _zone(entry.timezone)
    event = Event()
    event.add("uid", entry.uid)
    event.add("dtstamp", now)
    event.add("sequence", entry.sequence)
    event.add("dtstart", entry.start.astimezone(zone))
    event.add("dtend", entry.end.astimezone(zone))
    event.add("summary", entry.summary)
    if entry.description:
        event.add("description", entry.description)
    if entry.location:
        event.add("location", entry.location)
    if entry.geo is not None:
        event.add("geo", entry.geo)
    if entry.rrule is not None:
        event.add("rrule", entry.rrule)
        if entry.exdates:
            event.add("exdate", [d.astimezone(zone) for d in sorted(entry.exdates)])
    event.add("status", "CANCELLED" if entry.cancelled else "CONFIRMED")
    return event


def document(entries: Iterable[Entry], *, prodid: str, now: datetime, name: str | None = None) -> bytes:
    """The VCALENDAR (METHOD:PUBLISH) holding `entries`, with the VTIMEZONEs they need."""
    from icalendar import Calendar

    calendar = Calendar()
    calendar.add("prodid", prodid)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    if name is not None:
        calendar.add("x-wr-calname", name)
    listed = list(entries)
    for entry in listed:
        calendar.add_component(_event(entry, now))
    if listed:
        first = min(e.start for e in listed).date() - timedelta(days=366)
        last = max(e.last_end for e in listed).date() + timedelta(days=366)
        calendar.add_missing_timezones(first_date=date(first.year, 1, 1), last_date=last)
    return bytes(calendar.to_ical())
