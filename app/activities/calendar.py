"""An activity as iCalendar (RFC 5545), for a participant's calendar app.

Times carry the activity's TZID with a VTIMEZONE covering the series, so calendars keep the
local time across DST; a recurring activity carries its RRULE with the exact COUNT of
occurrences the service expanded (which folds in `until` and the horizon), so a calendar
shows exactly the occurrences the service knows of. Written by app/core/ical.py, which members'
personal feeds share.
"""

from datetime import datetime

from app.activities.models import Activity, ActivityStatus
from app.core import ical

PRODID = "-//Mutual aid API//activities//EN"
MEDIA_TYPE = ical.MEDIA_TYPE


def entry(activity: Activity) -> ical.Entry:
    """The activity's VEVENT, with the address as LOCATION and the point as GEO: callers give it
    only to those who may see them (the host and confirmed participants)."""
    rule = activity.recurrence_rule
    return ical.Entry(
        uid=f"{activity.id}@activities.mutual-aid.example",
        summary=activity.title,
        start=activity.starts_at,
        end=activity.ends_at,
        timezone=activity.timezone,
        last_end=activity.last_ends_at,
        sequence=activity.version,
        description=activity.description,
        location=activity.address,
        geo=(activity.lat, activity.lon) if activity.lat is not None and activity.lon is not None else None,
        rrule=ical.rule(rule, count=activity.occurrence_count) if rule is not None else None,
        cancelled=activity.status == ActivityStatus.cancelled,
    )


def to_ical(activity: Activity, *, now: datetime) -> bytes:
    """The VCALENDAR of the one activity (for the host and confirmed participants only)."""
    return ical.document([entry(activity)], prodid=PRODID, now=now)
