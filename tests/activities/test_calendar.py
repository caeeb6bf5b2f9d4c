"""The calendar feed, read back by an independent reader (recurring-ical-events)."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import icalendar
import recurring_ical_events

from tests.factories import NEXT_YEAR, activity, assert_problem, member

LONDON = ZoneInfo("Europe/London")


def _saturday_before_the_spring_change() -> datetime:
    """10:00 London time on the Saturday a week before the clocks go forward (last Sunday of March)."""
    last_sunday = max(
        datetime(NEXT_YEAR, 3, d) for d in range(25, 32) if datetime(NEXT_YEAR, 3, d).weekday() == 6
    )
    return (last_sunday - timedelta(days=8)).replace(hour=10, tzinfo=LONDON)


async def test_occurrences_keep_their_local_time_across_dst(client: httpx.AsyncClient) -> None:
    host, joiner, stranger = await member(client), await member(client), await member(client)
    first = _saturday_before_the_spring_change()
    a = await activity(
        client,
        host,
        starts_at=first.astimezone(UTC).isoformat(),
        ends_at=(first + timedelta(hours=2)).astimezone(UTC).isoformat(),
        recurrence={"rule": "FREQ=WEEKLY;BYDAY=SA", "until": (first + timedelta(days=30)).isoformat()},
    )
    await client.post(f"/v1/activities/{a['id']}/join", headers=joiner.headers)
    r = await client.get(f"/v1/activities/{a['id']}/calendar.ics", headers=joiner.headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/calendar")
    assert r.headers["cache-control"] == "no-store"
    calendar = icalendar.Calendar.from_ical(r.content)
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["Europe/London"]
    (event,) = calendar.walk("VEVENT")
    assert event["LOCATION"] == "Meet at the north gate, Example Park"
    seen = recurring_ical_events.of(calendar).between(first - timedelta(days=1), first + timedelta(days=60))
    starts = [e["DTSTART"].dt for e in seen]
    assert len(starts) == a["occurrence_count"] == 5
    assert [s.astimezone(LONDON).strftime("%a %H:%M") for s in starts] == ["Sat 10:00"] * 5
    # Two before the change (GMT, 10:00 UTC), three after it (BST, 09:00 UTC).
    assert [s.astimezone(UTC).hour for s in starts] == [10, 10, 9, 9, 9]
    assert [e["DTEND"].dt - e["DTSTART"].dt for e in seen] == [timedelta(hours=2)] * 5

    assert_problem(await client.get(f"/v1/activities/{a['id']}/calendar.ics", headers=stranger.headers), 403)
    assert_problem(await client.get(f"/v1/activities/{a['id']}/calendar.ics"), 401)
    assert (
        await client.get(f"/v1/activities/{a['id']}/calendar.ics", headers=host.headers)
    ).status_code == 200


async def test_a_waitlisted_member_gets_no_calendar(client: httpx.AsyncClient) -> None:
    host, first, second = await member(client), await member(client), await member(client)
    a = await activity(client, host, capacity=1, recurrence=None)
    for who in (first, second):
        await client.post(f"/v1/activities/{a['id']}/join", headers=who.headers)
    assert_problem(await client.get(f"/v1/activities/{a['id']}/calendar.ics", headers=second.headers), 403)
    r = await client.get(f"/v1/activities/{a['id']}/calendar.ics", headers=first.headers)
    (event,) = icalendar.Calendar.from_ical(r.content).walk("VEVENT")
    assert "RRULE" not in event
