"""A stored need whose window lies at the edge of the calendar (written before the API bounded
times, or by hand) is skipped by matching, never a 5xx for the volunteers and needs around it."""

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import col, update

from app.needs.models import Need
from tests.factories import Member, join, member, need_body, offer_body, organization

HERE = {"lat": 51.5, "lon": -0.12}
# Each one overflowed some clock: Tokyo's at the end of year 9999, New York's at the start of
# year 1, and any clock's two-hour margin before 0001-01-01 00:30.
LAST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
POISONS = {
    "end_of_calendar": (datetime(9999, 12, 31, 22, tzinfo=UTC), LAST),
    "whole_calendar": (datetime(1, 1, 1, tzinfo=UTC), LAST),
}
SHORT_AT_YEAR_ONE = (datetime(1, 1, 1, 0, 30, tzinfo=UTC), datetime(1, 1, 1, 1, tzinfo=UTC))
ZONES = ("Asia/Tokyo", "Pacific/Kiritimati", "America/New_York", "UTC")


def _every_day() -> list[dict[str, str]]:
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    return [{"day": d, "start": "00:00", "end": "24:00"} for d in days]


async def _poison(application: FastAPI, need_id: str, window: tuple[datetime, datetime]) -> None:
    """Below the API, which now refuses such windows."""
    async with application.state.sessionmaker() as session:
        await session.exec(
            update(Need)
            .where(col(Need.id) == uuid.UUID(need_id))
            .values(window_start=window[0], window_end=window[1])
        )
        await session.commit()


async def _need(client: httpx.AsyncClient, who: Member, **extra: Any) -> dict[str, Any]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    end = start + timedelta(hours=3)
    body = need_body(location=HERE, window_start=start.isoformat(), window_end=end.isoformat(), **extra)
    r = await client.post("/v1/needs", json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    need: dict[str, Any] = r.json()
    return need


@pytest.mark.parametrize("poison", sorted(POISONS))
async def test_a_poisoned_need_leaves_its_neighbours_working(
    client: httpx.AsyncClient, application: FastAPI, poison: str, caplog: pytest.LogCaptureFixture
) -> None:
    coordinator, requester = await member(client), await member(client)
    org = (await organization(client, coordinator))["id"]
    await join(client, coordinator, org, requester)
    volunteers, offers = [], []
    for zone in ZONES:
        v = await member(client)
        await join(client, coordinator, org, v)
        body = offer_body(location=HERE, timezone=zone, availability=_every_day(), organization_id=org)
        r = await client.post("/v1/offers", json=body, headers=v.headers)
        assert r.status_code == 201, r.text
        volunteers.append(v)
        offers.append(r.json())
    good = await _need(client, requester, organization_id=org)
    bad = await _need(client, requester, organization_id=org)
    short = await _need(client, requester, organization_id=org)
    await _poison(application, bad["id"], POISONS[poison])
    await _poison(application, short["id"], SHORT_AT_YEAR_ONE)
    caplog.set_level(logging.WARNING, logger="app.matching.availability")

    # Candidates: for the good need every volunteer; for the poisoned ones an answer, not a 500.
    found = await client.get(f"/v1/needs/{good['id']}/candidates", headers=requester.headers)
    assert found.status_code == 200, found.text
    assert {c["offer_id"] for c in found.json()["items"]} == {o["id"] for o in offers}
    for need in (bad, short):
        r = await client.get(f"/v1/needs/{need['id']}/candidates", headers=requester.headers)
        assert r.status_code == 200, r.text
        assert r.json()["items"] == []

    # Opportunities: every volunteer still sees the good need; none sees the poisoned one.
    for v, offer in zip(volunteers, offers, strict=True):
        r = await client.get(f"/v1/offers/{offer['id']}/opportunities", headers=v.headers)
        assert r.status_code == 200, r.text
        assert [n["id"] for n in r.json()["items"]] == [good["id"]]

    # A batch run over the neighbourhood assigns the good need and leaves the poisoned one out.
    run = await client.post("/v1/matching/runs", json={"organization_id": org}, headers=coordinator.headers)
    assert run.status_code == 200, run.text
    assert [a["need_id"] for a in run.json()["assignments"]] == [good["id"]]
    assert bad["id"] in run.json()["unmatched_need_ids"]

    # Claims: the poisoned need is refused like any need the volunteer cannot take; the good
    # need is claimed as ever.
    tokyo, tokyo_offer = volunteers[0], offers[0]
    refused = await client.post(
        "/v1/matches", json={"need_id": bad["id"], "offer_id": tokyo_offer["id"]}, headers=tokyo.headers
    )
    assert 400 <= refused.status_code < 500, refused.text
    claimed = await client.post(
        "/v1/matches", json={"need_id": good["id"], "offer_id": tokyo_offer["id"]}, headers=tokyo.headers
    )
    assert claimed.status_code == 201, claimed.text

    # The owner can still read and edit the poisoned need (and may put its window right).
    assert (await client.get(f"/v1/needs/{bad['id']}", headers=requester.headers)).status_code == 200
    edited = await client.patch(
        f"/v1/needs/{bad['id']}", json={"title": "Still here"}, headers=requester.headers
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["window_end"] == POISONS[poison][1].isoformat().replace("+00:00", "Z")
    assert any("cannot be placed" in r.getMessage() for r in caplog.records)
