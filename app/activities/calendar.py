"""An activity as iCalendar (RFC 5545), for a participant's calendar app.

Times carry the activity's TZID with a VTIMEZONE covering the series, so calendars keep the
local time across DST; a recurring activity carries its RRULE with the exact COUNT of
occurrences the service expanded (which folds in `until` and the horizon), so a calendar
shows exactly the occurrences the service knows of.
"""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vRecur

from app.activities.models import Activity, ActivityStatus

PRODID = "-//Mutual aid API//activities//EN"
MEDIA_TYPE = "text/calendar"
_DROPPED_PARTS = ("COUNT", "UNTIL")


def _rrule(activity: Activity) -> vRecur | None:
    if activity.recurrence_rule is None:
        return None
    parts = [p for p in activity.recurrence_rule.split(";") if p.split("=")[0] not in _DROPPED_PARTS]
    rule: vRecur = vRecur.from_ical(";".join([*parts, f"COUNT={activity.occurrence_count}"]))
    return rule


def to_ical(activity: Activity, *, now: datetime) -> bytes:
    """The VCALENDAR, with the address as LOCATION and the point as GEO: callers give it only to
    those who may see them (the host and confirmed participants)."""
    zone = ZoneInfo(activity.timezone)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"{activity.id}@activities.mutual-aid.example")
    event.add("dtstamp", now)
    event.add("sequence", activity.version)
    event.add("dtstart", activity.starts_at.astimezone(zone))
    event.add("dtend", activity.ends_at.astimezone(zone))
    event.add("summary", activity.title)
    if activity.description:
        event.add("description", activity.description)
    if activity.address:
        event.add("location", activity.address)
    if activity.lat is not None and activity.lon is not None:
        event.add("geo", (activity.lat, activity.lon))
    rule = _rrule(activity)
    if rule is not None:
        event.add("rrule", rule)
    event.add("status", "CANCELLED" if activity.status == ActivityStatus.cancelled else "CONFIRMED")
    calendar.add_component(event)
    # The zone's rules from a year before the series to a year after it.
    first = activity.starts_at.date() - timedelta(days=366)
    last = activity.last_ends_at.date() + timedelta(days=366)
    calendar.add_missing_timezones(first_date=date(first.year, 1, 1), last_date=last)
    return bytes(calendar.to_ical())
