"""`occurrence.reminder`, with a fixed clock: REMINDER_LEAD_MINUTES before each occurrence, once per
occurrence per member, to both sides of accepted matches and to confirmed participants, never for
a cancelled occurrence; two workers at once still send each one once."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import col

from app.calendars import reminders, upkeep
from app.core.config import Settings
from app.core.timeutil import utcnow
from app.members.models import Member as MemberRow
from tests.factories import (
    Member,
    activity,
    first_saturday,
    member,
    need_body,
    offer_body,
    weekly_series,
)

HERE = {"lat": 51.5, "lon": -0.12}
SATURDAYS = [first_saturday() + timedelta(days=7 * i) for i in range(5)]


def z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def _reminders(client: httpx.AsyncClient, who: Member) -> list[dict[str, Any]]:
    items = (await client.get("/v1/notifications", headers=who.headers)).json()["items"]
    return [n["data"] for n in reversed(items) if n["type"] == reminders.TYPE]


async def _send(application: FastAPI, at: datetime, **settings: Any) -> int:
    current: Settings = application.state.settings
    return await reminders.send_due(
        application.state.sessionmaker, current.model_copy(update=settings), now=at
    )


async def _claim(
    client: httpx.AsyncClient, requester: Member, need: dict[str, Any], occurrence: datetime | None = None
) -> tuple[Member, str]:
    volunteer = await member(client)
    body = offer_body(location=HERE, availability=[])
    offer = (await client.post("/v1/offers", json=body, headers=volunteer.headers)).json()
    pair = {"need_id": need["id"], "offer_id": offer["id"]}
    if occurrence is not None:
        pair["occurrence_start"] = z(occurrence)
    r = await client.post("/v1/matches", json=pair, headers=volunteer.headers)
    assert r.status_code == 201, r.text
    ok = await client.post(f"/v1/matches/{r.json()['id']}/accept", headers=requester.headers)
    assert ok.status_code == 200, ok.text
    return volunteer, str(r.json()["id"])


async def test_both_sides_of_a_recurring_match_once_per_date(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    requester = await member(client)
    body = need_body(location=HERE, volunteers_needed=2, **weekly_series())
    need = (await client.post("/v1/needs", json=body, headers=requester.headers)).json()
    weekly, series_match = await _claim(client, requester, need)
    once, date_match = await _claim(client, requester, need, SATURDAYS[1])
    cancel = f"/v1/needs/{need['id']}/occurrences/{z(SATURDAYS[2])}/cancel"
    assert (await client.post(cancel, headers=requester.headers)).status_code == 200

    def told(start: datetime, *match_ids: str) -> dict[str, Any]:
        return {
            "need_id": need["id"],
            "match_ids": sorted(match_ids),
            "occurrence_start": start.isoformat(),
            "occurrence_end": (start + timedelta(hours=2)).isoformat(),
        }

    assert await _send(application, SATURDAYS[0] - timedelta(hours=25)) == 0  # not yet due
    assert await _send(application, SATURDAYS[0] - timedelta(hours=23)) == 2
    assert await _send(application, SATURDAYS[0] - timedelta(hours=1)) == 0  # once
    assert await _send(application, SATURDAYS[1] - timedelta(hours=3)) == 3  # the date match too
    assert await _send(application, SATURDAYS[2] - timedelta(hours=3)) == 0  # that date is cancelled
    assert await _reminders(client, requester) == [
        told(SATURDAYS[0], series_match),
        told(SATURDAYS[1], series_match, date_match),
    ]
    assert await _reminders(client, weekly) == [told(s, series_match) for s in SATURDAYS[:2]]
    assert await _reminders(client, once) == [told(SATURDAYS[1], date_match)]
    # Once the series match ends, nobody hears of its dates (the other match was for one date).
    r = await client.post(f"/v1/matches/{series_match}/cancel", headers=weekly.headers)
    assert r.status_code == 200
    assert await _send(application, SATURDAYS[3] - timedelta(hours=3)) == 0


async def test_confirmed_participants_within_the_configured_lead(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    host, confirmed, waitlisted = await member(client), await member(client), await member(client)
    walk = await activity(client, host, capacity=1)
    for who in (confirmed, waitlisted):
        await client.post(f"/v1/activities/{walk['id']}/join", headers=who.headers)
    first = datetime.fromisoformat(walk["starts_at"])
    second = first + timedelta(days=7)
    assert await _send(application, first - timedelta(hours=2), reminder_lead_minutes=60) == 0
    assert await _send(application, first - timedelta(minutes=30), reminder_lead_minutes=60) == 1
    assert await _send(application, second - timedelta(minutes=30), reminder_lead_minutes=60) == 1
    assert await _reminders(client, confirmed) == [
        {
            "activity_id": walk["id"],
            "occurrence_start": start.isoformat(),
            "occurrence_end": (start + timedelta(hours=1)).isoformat(),
        }
        for start in (first, second)
    ]
    assert await _reminders(client, waitlisted) == []
    assert await _reminders(client, host) == []
    cancelled = await client.post(f"/v1/activities/{walk['id']}/cancel", headers=host.headers)
    assert cancelled.status_code == 200
    assert await _send(application, second + timedelta(days=7) - timedelta(minutes=30)) == 0


async def test_no_reminder_for_an_activity_hidden_while_its_host_is_suspended(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    host, confirmed = await member(client), await member(client)
    walk = await activity(client, host)
    await client.post(f"/v1/activities/{walk['id']}/join", headers=confirmed.headers)
    first = datetime.fromisoformat(walk["starts_at"])
    host_row = update(MemberRow).where(col(MemberRow.id) == uuid.UUID(host.id))
    async with application.state.sessionmaker() as session:
        await session.exec(host_row.values(suspended_at=utcnow()))
        await session.commit()
    assert await _send(application, first - timedelta(minutes=30), reminder_lead_minutes=60) == 0
    async with application.state.sessionmaker() as session:
        await session.exec(host_row.values(suspended_at=None))
        await session.commit()
    assert await _send(application, first - timedelta(minutes=20), reminder_lead_minutes=60) == 1
    assert [r["activity_id"] for r in await _reminders(client, confirmed)] == [walk["id"]]


async def test_the_worker_job_reads_the_clock(client: httpx.AsyncClient, application: FastAPI) -> None:
    host, joiner = await member(client), await member(client)
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    walk = await activity(
        client, host, starts_at=z(soon), ends_at=z(soon + timedelta(hours=1)), recurrence=None
    )
    await client.post(f"/v1/activities/{walk['id']}/join", headers=joiner.headers)
    settings: Settings = application.state.settings
    job = upkeep.periodic(settings)
    assert job.every_seconds == settings.reminder_interval_seconds
    await job.run(application.state.sessionmaker, settings)
    await job.run(application.state.sessionmaker, settings)
    assert [d["activity_id"] for d in await _reminders(client, joiner)] == [walk["id"]]


@pytest.mark.postgres
async def test_two_workers_at_once_send_each_reminder_once(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    host = await member(client)
    joiners = [await member(client) for _ in range(6)]
    walks = [await activity(client, host, capacity=None) for _ in range(3)]
    for walk in walks:
        for who in joiners:
            await client.post(f"/v1/activities/{walk['id']}/join", headers=who.headers)
    at = datetime.fromisoformat(walks[0]["starts_at"]) - timedelta(hours=1)
    counts = await asyncio.gather(*[_send(application, at) for _ in range(4)])
    assert sum(counts) == len(walks) * len(joiners)
    for who in joiners:
        assert sorted(d["activity_id"] for d in await _reminders(client, who)) == sorted(
            w["id"] for w in walks
        )
