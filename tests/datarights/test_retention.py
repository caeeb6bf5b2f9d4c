"""Retention's purge: what has outlived RETENTION_DAYS goes, everything else stays, and a second
run (or a dry run) changes nothing."""

import uuid
from datetime import date, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import col, select

from app.audit.models import AuditEvent
from app.core.timeutil import utcnow
from app.datarights.retention import purge
from app.matches.models import Match, Message
from app.needs.models import Need
from app.notifications.models import NeedAlert
from tests.factories import claim, member, need_body, offer_body


async def _needs(client: httpx.AsyncClient) -> tuple[list[str], str]:
    owner = await member(client)
    ids = []
    for _ in range(3):
        r = await client.post("/v1/needs", json=need_body(), headers=owner.headers)
        ids.append(r.json()["id"])
    for need_id in ids[:2]:
        assert (await client.post(f"/v1/needs/{need_id}/cancel", headers=owner.headers)).status_code == 200
    return ids, owner.id


async def _age(application: FastAPI, need_ids: list[str], days: int) -> None:
    import uuid

    async with application.state.sessionmaker() as session:
        await session.exec(
            update(Need)
            .where(col(Need.id).in_([uuid.UUID(i) for i in need_ids]))
            .values(updated_at=utcnow() - timedelta(days=days))
        )
        session.add(
            AuditEvent(
                need_id=uuid.UUID(need_ids[0]),
                actor_name="x",
                fields=["address"],
                reason="coordinator",
                at=utcnow() - timedelta(days=400),
            )
        )
        session.add(
            AuditEvent(
                need_id=uuid.UUID(need_ids[0]), actor_name="x", fields=["address"], reason="coordinator"
            )
        )
        await session.commit()


async def test_purge(client: httpx.AsyncClient, application: FastAPI) -> None:
    ids, owner = await _needs(client)
    # ids[0]: cancelled 100 days ago (purged); ids[1]: cancelled 10 days ago; ids[2]: open 100 days.
    await _age(application, [ids[0], ids[2]], 100)
    await _age(application, [ids[1]], 10)
    sessions, settings = application.state.sessionmaker, application.state.settings
    async with sessions() as session:  # someone was alerted of each (the owner will do)
        for need_id in ids:
            row = NeedAlert(
                need_id=uuid.UUID(need_id),
                member_id=uuid.UUID(owner),
                source_id=uuid.uuid4(),
                day=date.today(),
            )
            session.add(row)
        await session.commit()

    async def alerted() -> set[str]:
        async with sessions() as session:
            return {str(a.need_id) for a in (await session.exec(select(NeedAlert))).all()}

    async def rows() -> dict[str, tuple[object, ...]]:
        async with sessions() as session:
            needs = (await session.exec(select(Need))).all()
            audit = len((await session.exec(select(AuditEvent))).all())
            return {
                "audit": (audit,),
                **{
                    str(n.id): (n.lat, n.address, n.contact_name, n.contact_phone, n.title, n.approx_lat)
                    for n in needs
                },
            }

    before = await rows()
    due = {"need_details": 1, "message_text": 0, "need_alerts": 1, "audit_events": 2}
    assert await purge(sessions, settings, dry_run=True) == due
    assert await rows() == before
    assert await alerted() == set(ids)
    assert await purge(sessions, settings) == due
    assert await alerted() == set(ids[1:])  # the need that ended long ago: who was alerted goes
    after = await rows()
    lat, address, name, phone, title, approx = after[ids[0]]
    assert (lat, address, name, phone) == (None, None, None, None)
    assert (title, approx) == (before[ids[0]][4], before[ids[0]][5])  # the text and coarse cell stay
    assert after[ids[1]] == before[ids[1]]
    assert after[ids[2]] == before[ids[2]]
    assert after["audit"] == (2,)  # each _age added one old and one fresh row
    nothing = {"need_details": 0, "message_text": 0, "need_alerts": 0, "audit_events": 0}
    assert await purge(sessions, settings) == nothing
    assert await rows() == after


async def test_the_words_of_long_ended_matches_go_and_their_rows_stay(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    requester, volunteer = await member(client), await member(client)
    here = {"lat": 51.5, "lon": -0.12}
    body = offer_body(availability=[], location=here, capacity=3)
    offer = await client.post("/v1/offers", json=body, headers=volunteer.headers)
    assert offer.status_code == 201, offer.text
    threads = []
    for _ in range(3):  # ended 100 days ago, ended 10 days ago, still accepted
        need = await client.post("/v1/needs", json=need_body(location=here), headers=requester.headers)
        match = await claim(client, volunteer, need.json()["id"], offer.json()["id"], accept_as=requester)
        said = await client.post(
            f"/v1/matches/{match['id']}/messages", json={"body": "See you at ten."}, headers=volunteer.headers
        )
        assert said.status_code == 201, said.text
        threads.append(match["id"])
    for match_id in threads[:2]:
        r = await client.post(f"/v1/matches/{match_id}/cancel", headers=requester.headers)
        assert r.status_code == 200, r.text
    sessions, settings = application.state.sessionmaker, application.state.settings
    async with sessions() as session:
        for match_id, days in ((threads[0], 100), (threads[1], 10)):
            when = utcnow() - timedelta(days=days)
            ended = update(Match).where(col(Match.id) == uuid.UUID(match_id)).values(closed_at=when)
            await session.exec(ended)
        await session.commit()
    counts = await purge(sessions, settings)
    assert counts["message_text"] == 1
    async with sessions() as session:
        bodies = {str(m.match_id): m.body for m in (await session.exec(select(Message))).all()}
    assert bodies == {threads[0]: None, threads[1]: "See you at ten.", threads[2]: "See you at ten."}
    assert (await purge(sessions, settings))["message_text"] == 0
