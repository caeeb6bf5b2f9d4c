"""One transaction per request: what it reveals commits with its audit row or not at all, a
page of matches costs the same queries at any size, and releasing a connection never costs a
client its answer."""

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.deps import SessionDep, get_session
from app.matches.models import Match, MatchStatus
from tests.conftest import IS_POSTGRES
from tests.factories import assert_problem, insert_needs, member, need_body, offer_body
from tests.sql import statements

NEED_PHONE = "+44 20 7946 0123"
VOLUNTEER_PHONE = "+44 7700 900555"

_REFUSE_SQLITE = [
    "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
]
_REFUSE_POSTGRES = [
    "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'audit refused' USING ERRCODE = 'check_violation'; END $$",
    "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
]
_ALLOW_POSTGRES = [
    "DROP TRIGGER IF EXISTS refuse_audit ON audit_events",
    "DROP FUNCTION IF EXISTS refuse_audit()",
]


@asynccontextmanager
async def audit_refused(application: FastAPI) -> AsyncIterator[None]:
    """The database refuses every audit row (a trigger), as a full disk or a bad migration would."""
    async with application.state.engine.begin() as conn:
        for statement in _REFUSE_POSTGRES if IS_POSTGRES else _REFUSE_SQLITE:
            await conn.execute(text(statement))
    try:
        yield
    finally:
        async with application.state.engine.begin() as conn:
            for statement in _ALLOW_POSTGRES if IS_POSTGRES else ["DROP TRIGGER refuse_audit"]:
                await conn.execute(text(statement))


async def _need_and_offer(client: httpx.AsyncClient) -> tuple[Any, Any, str, str]:
    requester, volunteer = await member(client), await member(client, phone=VOLUNTEER_PHONE)
    here = {"lat": 51.5, "lon": -0.12}
    need = await client.post(
        "/v1/needs", json=need_body(location=here, address="Flat 7, Example Road"), headers=requester.headers
    )
    offer = await client.post("/v1/offers", json=offer_body(location=here), headers=volunteer.headers)
    assert (need.status_code, offer.status_code) == (201, 201), (need.text, offer.text)
    return requester, volunteer, need.json()["id"], offer.json()["id"]


def _reveals_nothing(response: httpx.Response) -> None:
    for secret in (NEED_PHONE, VOLUNTEER_PHONE, "Example Road", "Alex Example"):
        assert secret not in response.text


async def test_an_acceptance_whose_audit_row_fails_reveals_nothing_and_changes_nothing(
    application: FastAPI, client: httpx.AsyncClient
) -> None:
    requester, volunteer, need_id, offer_id = await _need_and_offer(client)
    claim = await client.post(
        "/v1/matches", json={"need_id": need_id, "offer_id": offer_id}, headers=volunteer.headers
    )
    assert claim.status_code == 201, claim.text
    accept_url = f"/v1/matches/{claim.json()['id']}/accept"
    async with audit_refused(application):
        # The acceptance's answer would show the volunteer's phone: it must not leave.
        accepted = await client.post(accept_url, headers=requester.headers)
    assert_problem(accepted, 500)
    _reveals_nothing(accepted)
    # Neither the acceptance, nor the slot and capacity it took, nor its webhook events were kept.
    assert (await client.get("/v1/matches", headers=volunteer.headers)).json()["items"][0][
        "status"
    ] == "proposed"
    need = await client.get(f"/v1/needs/{need_id}", headers=requester.headers)
    offer = await client.get(f"/v1/offers/{offer_id}", headers=volunteer.headers)
    assert (need.json()["status"], need.json()["volunteers_accepted"], need.headers["etag"]) == (
        "open",
        0,
        '"1"',
    )
    assert (offer.json()["active_matches"], offer.headers["etag"]) == (0, '"1"')
    assert (await client.get("/v1/members/me/audit", headers=volunteer.headers)).json()["items"] == []
    # Once the audit can be written again, the same acceptance goes through.
    again = await client.post(accept_url, headers=requester.headers)
    assert again.status_code == 200, again.text


async def test_a_read_whose_audit_row_fails_answers_500_without_the_phone(
    application: FastAPI, client: httpx.AsyncClient
) -> None:
    requester, volunteer, need_id, offer_id = await _need_and_offer(client)
    claim = await client.post(
        "/v1/matches", json={"need_id": need_id, "offer_id": offer_id}, headers=volunteer.headers
    )
    assert claim.status_code == 201, claim.text
    match_url = f"/v1/matches/{claim.json()['id']}"
    assert (await client.post(f"{match_url}/accept", headers=requester.headers)).status_code == 200
    before = (await client.get("/v1/members/me/audit", headers=volunteer.headers)).json()["items"]
    async with audit_refused(application):
        one = await client.get(match_url, headers=requester.headers)
        page = await client.get("/v1/matches", headers=requester.headers)
        need = await client.get(f"/v1/needs/{need_id}", headers=volunteer.headers)
    for response in (one, page, need):
        assert_problem(response, 500)
        _reveals_nothing(response)
    assert (await client.get("/v1/members/me/audit", headers=volunteer.headers)).json()["items"] == before
    shown = await client.get(match_url, headers=requester.headers)
    assert shown.json()["volunteer"]["phone"] == VOLUNTEER_PHONE
    after = (await client.get("/v1/members/me/audit", headers=volunteer.headers)).json()["items"]
    assert len(after) == len(before) + 1


async def _accepted_matches(application: FastAPI, client: httpx.AsyncClient, how_many: int) -> Any:
    requester, volunteer = await member(client), await member(client, phone=VOLUNTEER_PHONE)
    offer = await client.post("/v1/offers", json=offer_body(), headers=volunteer.headers)
    need_ids = await insert_needs(application, requester.id, [(51.5, -0.12)] * how_many)
    async with application.state.sessionmaker() as session:
        session.add_all(
            Match(
                need_id=uuid.UUID(need_id),
                offer_id=uuid.UUID(offer.json()["id"]),
                volunteer_id=uuid.UUID(volunteer.id),
                requester_id=uuid.UUID(requester.id),
                status=MatchStatus.accepted,
            )
            for need_id in need_ids
        )
        await session.commit()
    return requester


async def test_a_page_of_matches_costs_the_same_queries_for_1_and_100_items(
    application: FastAPI, client: httpx.AsyncClient
) -> None:
    requester = await _accepted_matches(application, client, 100)
    counts = {}
    for limit in (1, 100):
        with statements(application) as seen:
            page = await client.get("/v1/matches", params={"limit": limit}, headers=requester.headers)
        assert page.status_code == 200, page.text
        # Each accepted match shows the requester the volunteer's phone, and each is audited.
        assert [m["volunteer"]["phone"] for m in page.json()["items"]] == [VOLUNTEER_PHONE] * limit
        counts[limit] = len(seen)
    assert counts[1] == counts[100], counts


class _ReleaseFails(AsyncSession):
    """A session whose connection cannot be given back: the server went away (57P01)."""

    async def close(self) -> None:
        await super().close()
        raise OperationalError(
            "ROLLBACK", {}, Exception("terminating connection due to administrator command")
        )


def _failing_release(application: FastAPI) -> None:
    maker = application.state.sessionmaker
    application.state.sessionmaker = lambda: _ReleaseFails(bind=maker.kw["bind"], expire_on_commit=False)


async def test_a_release_that_fails_before_the_answer_is_a_503(
    application: FastAPI, client: httpx.AsyncClient
) -> None:
    asker = await member(client)
    _failing_release(application)
    r = await client.get("/v1/members/me", headers=asker.headers)
    assert_problem(r, 503)
    assert r.headers["retry-after"] == "5"


@pytest.mark.own_app
async def test_a_release_that_fails_after_the_answer_started_is_logged_and_swallowed(
    application: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    # A session held until the response has gone (scope "request"), as a streamed answer would.
    @application.get("/late-release")
    async def late_release(
        session: AsyncSession = Depends(get_session, scope="request"),
    ) -> dict[str, int]:
        return {"answer": int((await session.exec(text("SELECT 42"))).one()[0])}  # type: ignore[call-overload]

    _failing_release(application)
    caplog.set_level(logging.WARNING, logger="app.core.transactions")
    r = await client.get("/late-release")
    assert (r.status_code, r.json()) == (200, {"answer": 42})
    warnings = [rec for rec in caplog.records if rec.name == "app.core.transactions"]
    assert len(warnings) == 1
    assert "after answering" in warnings[0].getMessage()


@pytest.mark.own_app
async def test_a_commit_that_fails_is_the_answer_not_a_200(
    application: FastAPI, client: httpx.AsyncClient
) -> None:
    @application.post("/commit-fails")
    async def commit_fails(session: SessionDep) -> dict[str, bool]:
        def refuse(_session: Any) -> None:
            raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

        event.listen(session.sync_session, "before_commit", refuse)
        return {"ok": True}

    r = await client.post("/commit-fails")
    assert_problem(r, 503)
