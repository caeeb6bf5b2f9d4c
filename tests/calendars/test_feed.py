"""A member's personal calendar feed: its secret URL (made, replaced, revoked), what it holds,
read back by an independent reader (recurring-ical-events) across a DST change, and what it
never holds."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import icalendar
import recurring_ical_events
from fastapi import FastAPI

from app.safety.admins import set_admin
from tests.factories import (
    NEXT_YEAR,
    Member,
    activity,
    assert_problem,
    member,
    need_body,
    offer_body,
)

LONDON = ZoneInfo("Europe/London")
HERE = {"lat": 51.5, "lon": -0.12}
FEED = "/v1/members/me/calendar-feed"


def z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _saturday_before_the_spring_change() -> datetime:
    """10:00 London on the Saturday a week before the clocks go forward (last Sunday of March)."""
    last_sunday = max(
        datetime(NEXT_YEAR, 3, d) for d in range(25, 32) if datetime(NEXT_YEAR, 3, d).weekday() == 6
    )
    return (last_sunday - timedelta(days=8)).replace(hour=10, tzinfo=LONDON)


FIRST = _saturday_before_the_spring_change()


async def _feed_url(client: httpx.AsyncClient, who: Member) -> str:
    r = await client.post(FEED, headers=who.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["url"])


async def _fetch(client: httpx.AsyncClient, url: str) -> icalendar.Calendar:
    r = await client.get(url)  # no credential: the URL is one
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/calendar")
    assert r.headers["cache-control"] == "private, no-store"
    return icalendar.Calendar.from_ical(r.content)


def _uids(calendar: icalendar.Calendar) -> set[str]:
    return {str(e["UID"]) for e in calendar.walk("VEVENT")}


async def _weekly_need(client: httpx.AsyncClient, owner: Member, **overrides: Any) -> dict[str, Any]:
    """Saturdays 10:00-12:00 London, five times, across the spring change."""
    body = need_body(
        location=HERE,
        address="Flat 7, Example Street",
        window_start=z(FIRST),
        window_end=z(FIRST + timedelta(hours=2)),
        timezone="Europe/London",
        recurrence={"rule": "FREQ=WEEKLY;COUNT=5"},
        **overrides,
    )
    r = await client.post("/v1/needs", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _match(
    client: httpx.AsyncClient,
    requester: Member,
    volunteer: Member,
    need: dict[str, Any],
    occurrence: str | None = None,
    accept: bool = True,
) -> dict[str, Any]:
    offer = (
        await client.post(
            "/v1/offers", json=offer_body(location=HERE, availability=[]), headers=volunteer.headers
        )
    ).json()
    body = {"need_id": need["id"], "offer_id": offer["id"]}
    if occurrence is not None:
        body["occurrence_start"] = occurrence
    r = await client.post("/v1/matches", json=body, headers=volunteer.headers)
    assert r.status_code == 201, r.text
    if not accept:
        return dict(r.json())
    ok = await client.post(f"/v1/matches/{r.json()['id']}/accept", headers=requester.headers)
    assert ok.status_code == 200, ok.text
    return dict(ok.json())


async def test_the_url_is_made_replaced_and_revoked(client: httpx.AsyncClient) -> None:
    who = await member(client)
    assert_problem(await client.post(FEED), 401)
    assert_problem(await client.get(FEED, headers=who.headers), 404)
    made = await client.post(FEED, headers=who.headers)
    assert made.status_code == 201
    assert made.headers["location"] == FEED
    assert made.headers["cache-control"] == "no-store"
    first = made.json()["url"]
    assert first.startswith("http://test/v1/calendar/")
    assert first.endswith(".ics")
    assert (await client.get(FEED, headers=who.headers)).json() == {"created_at": made.json()["created_at"]}
    empty = await _fetch(client, first)
    assert list(empty.walk("VEVENT")) == []

    second = await _feed_url(client, who)  # creating again replaces it
    assert second != first
    gone = await client.get(first)
    assert_problem(gone, 404)
    assert gone.headers["cache-control"] == "no-store"
    await _fetch(client, second)

    assert (await client.delete(FEED, headers=who.headers)).status_code == 204
    assert_problem(await client.get(second), 404)
    assert_problem(await client.get(FEED, headers=who.headers), 404)
    assert (await client.delete(FEED, headers=who.headers)).status_code == 204  # nothing left: fine
    for token in ("nothing-like-it", "x" * 500):
        assert_problem(await client.get(f"/v1/calendar/{token}.ics"), 404)


async def test_activities_and_a_recurring_match_keep_their_local_times(client: httpx.AsyncClient) -> None:
    requester, volunteer, host = await member(client), await member(client), await member(client)
    walk = await activity(
        client,
        host,
        starts_at=z(FIRST),
        ends_at=z(FIRST + timedelta(hours=1)),
        recurrence={"rule": "FREQ=WEEKLY;BYDAY=SA;COUNT=5"},
    )
    assert (
        await client.post(f"/v1/activities/{walk['id']}/join", headers=volunteer.headers)
    ).status_code == 201
    need = await _weekly_need(client, requester)
    skipped = FIRST + timedelta(days=14)  # the third Saturday, after the change
    cancel = f"/v1/needs/{need['id']}/occurrences/{z(skipped)}/cancel"
    assert (await client.post(cancel, headers=requester.headers)).status_code == 200
    match = await _match(client, requester, volunteer, need)

    calendar = await _fetch(client, await _feed_url(client, volunteer))
    assert _uids(calendar) == {
        f"{walk['id']}@activities.mutual-aid.example",
        f"{match['id']}@matches.mutual-aid.example",
    }
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["Europe/London"]
    seen = recurring_ical_events.of(calendar).between(FIRST - timedelta(days=1), FIRST + timedelta(days=60))
    by_uid: dict[str, list[Any]] = {}
    for e in seen:
        by_uid.setdefault(str(e["UID"]), []).append(e)
    help_days = by_uid[f"{match['id']}@matches.mutual-aid.example"]
    listed = (await client.get(f"/v1/needs/{need['id']}/occurrences?from={z(FIRST)}")).json()["items"]
    # The reader's occurrences are the service's open ones: the cancelled date is an EXDATE.
    assert [z(e["DTSTART"].dt) for e in help_days] == [o["start"] for o in listed if o["status"] == "open"]
    assert len(help_days) == 4
    assert {e["DTSTART"].dt.astimezone(LONDON).strftime("%a %H:%M") for e in help_days} == {"Sat 10:00"}
    assert [e["DTSTART"].dt.astimezone(UTC).hour for e in help_days] == [10, 10, 9, 9]
    assert {e["DTEND"].dt - e["DTSTART"].dt for e in help_days} == {timedelta(hours=2)}
    assert help_days[0]["LOCATION"] == "Flat 7, Example Street"  # the volunteer's to know, once accepted
    walks = by_uid[f"{walk['id']}@activities.mutual-aid.example"]
    assert [e["DTSTART"].dt.astimezone(UTC).hour for e in walks] == [10, 10, 9, 9, 9]
    assert walks[0]["LOCATION"] == "Meet at the north gate, Example Park"

    # The requester's side: their own need's series, once a volunteer has accepted it.
    mine = await _fetch(client, await _feed_url(client, requester))
    assert _uids(mine) == {f"{match['id']}@matches.mutual-aid.example"}
    # The volunteer's fetches showed the requester's address: audited as any read of it.
    audit = (await client.get("/v1/members/me/audit", headers=requester.headers)).json()["items"]
    assert audit
    assert {(a["reason"], tuple(a["fields"])) for a in audit} == {("participant", ("location", "address"))}


async def test_only_what_the_member_may_see(client: httpx.AsyncClient) -> None:
    requester, volunteer, host, waiting = [await member(client) for _ in range(4)]
    walk = await activity(client, host, capacity=1)
    for who in (volunteer, waiting):
        await client.post(f"/v1/activities/{walk['id']}/join", headers=who.headers)
    need = await _weekly_need(client, requester)
    proposed = await _match(client, requester, volunteer, need, accept=False)

    url = await _feed_url(client, volunteer)
    body = (await client.get(url)).text
    assert _uids(icalendar.Calendar.from_ical(body)) == {f"{walk['id']}@activities.mutual-aid.example"}
    assert "Flat 7" not in body  # a claim not yet accepted shows nothing of the need
    waiting_feed = await _fetch(client, await _feed_url(client, waiting))
    assert list(waiting_feed.walk("VEVENT")) == []  # the waitlist is no place to go to

    accepted = await client.post(f"/v1/matches/{proposed['id']}/accept", headers=requester.headers)
    assert accepted.status_code == 200
    assert len(_uids(await _fetch(client, url))) == 2

    # A block between the two people takes the match away (it is cancelled), and a block with the
    # host the activity, on the very next fetch.
    assert (
        await client.put(f"/v1/members/me/blocks/{volunteer.id}", headers=requester.headers)
    ).status_code == 204
    assert _uids(await _fetch(client, url)) == {f"{walk['id']}@activities.mutual-aid.example"}
    assert (
        await client.put(f"/v1/members/me/blocks/{volunteer.id}", headers=host.headers)
    ).status_code == 204
    assert list((await _fetch(client, url)).walk("VEVENT")) == []


async def test_a_match_that_ends_leaves_and_one_date_is_one_event(client: httpx.AsyncClient) -> None:
    requester, volunteer, other = await member(client), await member(client), await member(client)
    need = await _weekly_need(client, requester, volunteers_needed=2)
    second = FIRST + timedelta(days=7)
    one_date = await _match(client, requester, volunteer, need, occurrence=z(second))
    series = await _match(client, requester, other, need)
    calendar = await _fetch(client, await _feed_url(client, requester))
    events = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    single = events[f"{one_date['id']}@matches.mutual-aid.example"]
    assert "RRULE" not in single
    assert single.decoded("DTSTART") == second
    assert "RRULE" in events[f"{series['id']}@matches.mutual-aid.example"]

    url = await _feed_url(client, volunteer)
    cancel = f"/v1/needs/{need['id']}/occurrences/{z(second)}/cancel"
    assert (await client.post(cancel, headers=requester.headers)).status_code == 200
    assert list((await _fetch(client, url)).walk("VEVENT")) == []  # its date is cancelled

    other_url = await _feed_url(client, other)
    assert len(list((await _fetch(client, other_url)).walk("VEVENT"))) == 1
    ended = await client.post(f"/v1/matches/{series['id']}/cancel", headers=other.headers)
    assert ended.status_code == 200
    assert list((await _fetch(client, other_url)).walk("VEVENT")) == []


async def test_a_suspended_or_erased_member_has_no_feed(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    boss, suspended, erased = await member(client), await member(client), await member(client)
    async with application.state.sessionmaker() as session:
        await set_admin(session, email=boss.data["email"], admin=True)
        await session.commit()
    suspended_url, erased_url = await _feed_url(client, suspended), await _feed_url(client, erased)
    r = await client.post(
        f"/v1/admin/members/{suspended.id}/suspend", json={"reason": "Spam."}, headers=boss.headers
    )
    assert r.status_code == 200, r.text
    assert_problem(await client.get(suspended_url), 404)
    reinstated = await client.post(f"/v1/admin/members/{suspended.id}/reinstate", headers=boss.headers)
    assert reinstated.status_code == 200, reinstated.text
    await _fetch(client, suspended_url)  # the same URL works again once reinstated

    export = (await client.get("/v1/members/me/export", headers=erased.headers)).json()
    assert set(export["calendar_feed"]) == {"created_at"}
    assert erased_url.rsplit("/", 1)[-1].removesuffix(".ics") not in str(export)
    gone = await client.request(
        "DELETE", "/v1/members/me", json={"password": "correct horse battery"}, headers=erased.headers
    )
    assert gone.status_code == 204, gone.text
    assert_problem(await client.get(erased_url), 404)
    async with application.state.sessionmaker() as session:
        from app.calendars.models import CalendarFeed

        assert await session.get(CalendarFeed, uuid.UUID(erased.id)) is None


async def test_a_replayed_create_answers_the_url_only_while_it_stands(client: httpx.AsyncClient) -> None:
    who = await member(client)
    keyed = {**who.headers, "Idempotency-Key": "calendar-1"}
    made = await client.post(FEED, headers=keyed)
    again = await client.post(FEED, headers=keyed)
    assert (again.status_code, again.json()["url"]) == (201, made.json()["url"])
    await _feed_url(client, who)  # replaced
    refused = await client.post(FEED, headers=keyed)
    assert_problem(refused, 409)
    assert made.json()["url"] not in refused.text
