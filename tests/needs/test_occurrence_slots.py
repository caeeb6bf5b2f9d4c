"""Slots of a recurring need, counted per occurrence: matches naming different dates do not take
each other's slots, different volunteers share one date's, and a series match needs a free slot
in every occurrence not yet ended (app/needs/slots.py)."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from tests.factories import Member, assert_problem, member, need_body, offer_body, organization, weekly_series

HERE = {"lat": 51.5, "lon": -0.12}


def z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def _automatic_need(client: httpx.AsyncClient, **fields: Any) -> tuple[Member, dict[str, Any]]:
    """An organisation's recurring need whose claims are accepted at once (Saturdays, 5 times)."""
    coordinator = await member(client)
    org = (await organization(client, coordinator))["id"]
    body = need_body(location=HERE, organization_id=org, approval="automatic", **weekly_series(**fields))
    r = await client.post("/v1/needs", json=body, headers=coordinator.headers)
    assert r.status_code == 201, r.text
    return coordinator, dict(r.json())


async def _claim(
    client: httpx.AsyncClient, need: dict[str, Any], occurrence: datetime | None = None
) -> httpx.Response:
    """A new volunteer (one active match per volunteer and need) claims the date, or the series."""
    volunteer = await member(client)
    offer = (
        await client.post(
            "/v1/offers", json=offer_body(location=HERE, availability=[]), headers=volunteer.headers
        )
    ).json()
    body: dict[str, Any] = {"need_id": need["id"], "offer_id": offer["id"]}
    if occurrence is not None:
        body["occurrence_start"] = z(occurrence)
    return await client.post("/v1/matches", json=body, headers=volunteer.headers)


async def _occurrences(client: httpx.AsyncClient, need: dict[str, Any]) -> list[datetime]:
    items = (await client.get(f"/v1/needs/{need['id']}/occurrences")).json()["items"]
    return [datetime.fromisoformat(o["start"]) for o in items]


async def test_dates_and_the_series_share_out_the_slots(client: httpx.AsyncClient) -> None:
    coordinator, need = await _automatic_need(client, volunteers_needed=2)
    first, second, third = (await _occurrences(client, need))[:3]
    a, b = await _claim(client, need, first), await _claim(client, need, first)
    assert (a.status_code, b.status_code) == (201, 201)
    assert (a.json()["status"], b.json()["status"]) == ("accepted", "accepted")
    assert_problem(await _claim(client, need, first), 409)  # that date is full
    assert (await _claim(client, need, second)).status_code == 201  # the next one is not
    view = (await client.get(f"/v1/needs/{need['id']}", headers=coordinator.headers)).json()
    assert (view["status"], view["volunteers_accepted"]) == ("open", 0)

    assert_problem(await _claim(client, need, None), 409)  # the series needs a slot on `first` too
    cancelled = await client.post(f"/v1/matches/{a.json()['id']}/cancel", headers=coordinator.headers)
    assert cancelled.status_code == 200, cancelled.text
    series = await _claim(client, need, None)
    assert (series.status_code, series.json()["status"]) == (201, "accepted")
    view = (await client.get(f"/v1/needs/{need['id']}", headers=coordinator.headers)).json()
    assert (view["status"], view["volunteers_accepted"]) == ("open", 1)

    # One slot left on each date: `first` and `second` hold one occurrence match each already.
    assert_problem(await _claim(client, need, first), 409)
    assert (await _claim(client, need, third)).status_code == 201
    assert_problem(await _claim(client, need, third), 409)
    # Fewer slots than a date holds is refused, and changes nothing.
    fewer = await client.patch(
        f"/v1/needs/{need['id']}", json={"volunteers_needed": 1}, headers=coordinator.headers
    )
    assert_problem(fewer, 409)
    view = (await client.get(f"/v1/needs/{need['id']}", headers=coordinator.headers)).json()
    assert view["volunteers_needed"] == 2


async def test_a_series_match_fills_the_need_and_every_date(client: httpx.AsyncClient) -> None:
    coordinator, need = await _automatic_need(client)
    first = (await _occurrences(client, need))[0]
    assert (await _claim(client, need, None)).status_code == 201
    view = (await client.get(f"/v1/needs/{need['id']}", headers=coordinator.headers)).json()
    assert (view["status"], view["volunteers_accepted"]) == ("matched", 1)
    assert_problem(await _claim(client, need, first), 409)


async def test_a_cancelled_date_gives_its_slots_back_to_the_series(client: httpx.AsyncClient) -> None:
    coordinator, need = await _automatic_need(client)
    second = (await _occurrences(client, need))[1]
    assert (await _claim(client, need, second)).status_code == 201
    assert_problem(await _claim(client, need, None), 409)
    cancel = f"/v1/needs/{need['id']}/occurrences/{z(second)}/cancel"
    assert (await client.post(cancel, headers=coordinator.headers)).status_code == 200
    assert (await _claim(client, need, None)).status_code == 201


async def test_a_completed_date_keeps_its_slot_and_leaves_the_series_open(client: httpx.AsyncClient) -> None:
    coordinator, need = await _automatic_need(client)
    first, second = (await _occurrences(client, need))[:2]
    done = await _claim(client, need, first)
    completed = await client.post(f"/v1/matches/{done.json()['id']}/complete", headers=coordinator.headers)
    assert (completed.status_code, completed.json()["status"]) == (200, "completed")
    assert_problem(await _claim(client, need, first), 409)  # served: its slot stays taken
    view = (await client.get(f"/v1/needs/{need['id']}", headers=coordinator.headers)).json()
    assert (view["status"], view["volunteers_accepted"]) == ("open", 0)
    assert (await _claim(client, need, second)).status_code == 201


async def _back_in_time(application: FastAPI, need_id: str, by: timedelta) -> None:
    """As if the need had been filed `by` earlier: its whole series moves back."""
    from app.needs.models import Need

    async with application.state.sessionmaker() as session:
        need = await session.get(Need, uuid.UUID(need_id))
        assert need is not None
        for column in ("window_start", "window_end", "last_starts_at", "last_ends_at"):
            setattr(need, column, getattr(need, column) - by)
        await session.commit()


async def test_a_series_whose_first_date_has_passed_still_takes_volunteers(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    coordinator, need = await _automatic_need(
        client,
        window_start=z(start),
        window_end=z(start + timedelta(hours=1)),
        timezone="UTC",
        recurrence={"rule": "FREQ=DAILY;COUNT=10"},
    )
    await _back_in_time(application, need["id"], timedelta(days=3))  # the first window has ended
    claimed = await _claim(client, need, None)
    assert (claimed.status_code, claimed.json()["status"]) == (201, "accepted"), claimed.text
    view = (await client.get(f"/v1/needs/{need['id']}", headers=coordinator.headers)).json()
    assert (view["status"], view["volunteers_accepted"]) == ("matched", 1)
