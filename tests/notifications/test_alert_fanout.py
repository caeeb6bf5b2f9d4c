"""Nearby-need alerts are sent after the need commits, from a row written with it: a fan-out
that fails, or a process that dies before it, loses no alert and sends none twice, and what is
sent late follows the rules as they stand when it is sent."""

import asyncio
import logging
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, func
from sqlmodel import col, select

from app.dispatch import fanout
from app.dispatch.alerts import alert_nearby
from app.dispatch.models import AlertFanout
from app.main import create_app
from tests.conftest import make_settings
from tests.factories import Member, member, need_body, offer_body
from tests.notifications.channels import HERE
from tests.notifications.test_alerts import alerted, opt_in


async def _waiting(application: FastAPI) -> int:
    async with application.state.sessionmaker() as session:
        return int((await session.exec(select(func.count()).select_from(AlertFanout))).one())


async def _nearby(client: httpx.AsyncClient, who: Member) -> list[str]:
    items = (await client.get("/v1/notifications", headers=who.headers)).json()["items"]
    return [n["data"]["need_id"] for n in items if n["type"] == "need.nearby"]


async def _volunteer(client: httpx.AsyncClient) -> Member:
    volunteer = await member(client)
    body = offer_body(location=HERE, availability=[])
    r = await client.post("/v1/offers", json=body, headers=volunteer.headers)
    assert r.status_code == 201, r.text
    await opt_in(client, volunteer)
    return volunteer


async def _need(client: httpx.AsyncClient, requester: Member) -> str:
    r = await client.post("/v1/needs", json=need_body(location=HERE), headers=requester.headers)
    assert r.status_code == 201, r.text
    need_id: str = r.json()["id"]
    return need_id


async def test_the_alerts_follow_the_commit_and_leave_nothing_waiting(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    requester, volunteer = await member(client), await _volunteer(client)
    need_id = await _need(client, requester)
    assert await _nearby(client, volunteer) == [need_id]
    assert await _waiting(application) == 0


async def test_a_process_lost_after_the_commit_leaves_the_alerts_to_the_worker(
    client: httpx.AsyncClient, application: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    requester, volunteer = await member(client), await _volunteer(client)
    # The request commits and answers, and its process dies before the fan-out it queued.
    monkeypatch.setattr(fanout, "after_commit", lambda session, run: None)
    need_id = await _need(client, requester)
    assert await _nearby(client, volunteer) == []
    assert await _waiting(application) == 1
    sessions = application.state.sessionmaker
    assert await fanout.sweep(sessions) == 0  # not yet stale: its own process may still send it
    assert await fanout.sweep(sessions, older_than=timedelta(0)) == 1
    assert await _nearby(client, volunteer) == [need_id]
    assert await _waiting(application) == 0
    assert await fanout.sweep(sessions, older_than=timedelta(0)) == 0
    assert await _nearby(client, volunteer) == [need_id]  # once, however often the worker looks


async def test_a_failed_fan_out_keeps_the_need_and_is_sent_once_later(
    client: httpx.AsyncClient, application: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    requester, volunteer = await member(client), await _volunteer(client)

    async def broken(*args: object, **kwargs: object) -> set[object]:
        raise RuntimeError("the fan-out failed")

    monkeypatch.setattr(fanout, "alert_nearby", broken)
    need_id = await _need(client, requester)  # 201: the need committed before its alerts
    assert (await client.get(f"/v1/needs/{need_id}", headers=requester.headers)).status_code == 200
    assert await _nearby(client, volunteer) == []
    assert await _waiting(application) == 1  # the failed transaction put its row back
    monkeypatch.undo()
    assert await fanout.sweep(application.state.sessionmaker, older_than=timedelta(0)) == 1
    assert await _nearby(client, volunteer) == [need_id]
    assert await _waiting(application) == 0


async def test_a_late_fan_out_follows_the_rules_as_they_stand_when_it_is_sent(
    client: httpx.AsyncClient, application: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    requester = await member(client)
    blocked, still = await _volunteer(client), await _volunteer(client)
    monkeypatch.setattr(fanout, "after_commit", lambda session, run: None)
    kept = await _need(client, requester)
    cancelled = await _need(client, requester)
    r = await client.put(f"/v1/members/me/blocks/{blocked.id}", headers=requester.headers)
    assert r.status_code == 204, r.text
    r = await client.post(f"/v1/needs/{cancelled}/cancel", headers=requester.headers)
    assert r.status_code == 200, r.text
    assert await fanout.sweep(application.state.sessionmaker, older_than=timedelta(0)) == 2
    assert await _nearby(client, blocked) == []
    assert await _nearby(client, still) == [kept]  # the cancelled need alerts no one
    assert not await alerted(client, requester, kept)


@pytest.mark.postgres
async def test_a_row_another_process_is_sending_is_not_sent_again(
    client: httpx.AsyncClient, application: FastAPI, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    requester, volunteer = await member(client), await _volunteer(client)
    monkeypatch.setattr(fanout, "after_commit", lambda session, run: None)
    await _need(client, requester)
    async with application.state.sessionmaker() as session:
        [fanout_id] = (await session.exec(select(AlertFanout.id))).all()
    # Another process: an engine of its own, so the database, not a pool, orders the two.
    other = create_app(make_settings(database_url, db_pool_size=2))
    try:
        async with application.state.sessionmaker() as first:
            await first.exec(delete(AlertFanout).where(col(AlertFanout.id) == fanout_id))
            second = asyncio.create_task(fanout.send(other.state.sessionmaker, [fanout_id]))
            await asyncio.sleep(0.3)
            assert not second.done()  # waiting on the row the first process took
            await first.commit()
        assert await second == 0
    finally:
        await other.state.engine.dispose()
    assert await _nearby(client, volunteer) == []  # the first process, here, sent nothing


async def test_the_worker_takes_a_batch_a_pass_and_a_failing_row_goes_to_the_back(
    client: httpx.AsyncClient, application: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    requester, volunteer = await member(client), await _volunteer(client)
    monkeypatch.setattr(fanout, "after_commit", lambda session, run: None)
    first = await _need(client, requester)
    second = await _need(client, requester)
    monkeypatch.setattr(fanout, "SWEEP_BATCH", 1)
    sent = alert_nearby

    async def fails_for_the_first(session: object, *, need: Any, **kwargs: Any) -> Any:
        if str(need.id) == first:
            raise RuntimeError("this need's fan-out fails")
        return await sent(session, need=need, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fanout, "alert_nearby", fails_for_the_first)
    sessions = application.state.sessionmaker
    assert await fanout.sweep(sessions, older_than=timedelta(0)) == 0  # the oldest failed...
    assert await fanout.sweep(sessions, older_than=timedelta(0)) == 1  # ...and waits behind the next
    assert await _nearby(client, volunteer) == [second]
    assert await _waiting(application) == 1
    monkeypatch.setattr(fanout, "alert_nearby", sent)
    assert await fanout.sweep(sessions, older_than=timedelta(0)) == 1
    assert sorted(await _nearby(client, volunteer)) == sorted([first, second])


async def test_the_request_log_times_the_answer_not_the_alerts_sent_after_it(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    requester, volunteer = await member(client), await _volunteer(client)
    sent = alert_nearby

    async def slow(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(1.0)
        return await sent(*args, **kwargs)

    monkeypatch.setattr(fanout, "alert_nearby", slow)
    caplog.set_level(logging.INFO, logger="app.requests")
    need_id = await _need(client, requester)
    assert await _nearby(client, volunteer) == [need_id]  # sent, a second after the answer
    lines = [r.msg for r in caplog.records if r.name == "app.requests" and isinstance(r.msg, dict)]
    created = [line for line in lines if (line["method"], line["route"]) == ("POST", "/v1/needs")]
    assert len(created) == 1
    assert created[0]["status"] == 201
    assert created[0]["duration_ms"] < 1000
