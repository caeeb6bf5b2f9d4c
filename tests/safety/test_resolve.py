"""Resolving reports: who decides what, what each action does, and who is told."""

import dataclasses
import uuid
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit.models import AdminAction
from app.safety import hooks
from app.safety.reporting import Report
from tests.factories import Member, assert_problem, join, member, organization
from tests.safety.moderation import accepted_match, admin, public_need, report


async def _queued(client: httpx.AsyncClient) -> tuple[Member, Member, Member, dict, dict]:
    """A coordinator, a volunteer of theirs who filed an organisation need, a reporter, the
    need, and the reporter's open report about it."""
    coordinator, volunteer, reporter = [await member(client) for _ in range(3)]
    org = (await organization(client, coordinator))["id"]
    await join(client, coordinator, org, volunteer)
    need = await public_need(client, volunteer, organization_id=org)
    made = await report(client, reporter, "need", need["id"])
    assert made.status_code == 201, made.text
    return coordinator, volunteer, reporter, need, made.json()


def _resolve(action: str, statement: str = "Checked the need's text against the rules.") -> dict[str, str]:
    return {"action": action, "statement": statement}


async def test_a_coordinator_warns_and_the_reporter_sees_the_decision(client: httpx.AsyncClient) -> None:
    coordinator, volunteer, reporter, need, made = await _queued(client)
    r = await client.post(
        f"/v1/reports/{made['id']}/resolve", json=_resolve("warn"), headers=coordinator.headers
    )
    assert r.status_code == 200, r.text
    decided = r.json()
    assert (decided["status"], decided["action"]) == ("resolved", "warn")
    assert "reporter_id" not in decided
    mine = (await client.get("/v1/reports", headers=reporter.headers)).json()["items"][0]
    assert {k: mine[k] for k in ("status", "action", "statement")} == {
        "status": "resolved",
        "action": "warn",
        "statement": "Checked the need's text against the rules.",
    }
    assert mine["resolved_at"] is not None
    # Warned: the need itself is untouched.
    assert (await client.get(f"/v1/needs/{need['id']}", headers=volunteer.headers)).json()["status"] == "open"
    again = await client.post(
        f"/v1/reports/{made['id']}/resolve", json=_resolve("dismiss"), headers=coordinator.headers
    )
    assert_problem(again, 409)


async def test_remove_cancels_a_need(client: httpx.AsyncClient) -> None:
    coordinator, volunteer, _, need, made = await _queued(client)
    r = await client.post(
        f"/v1/reports/{made['id']}/resolve", json=_resolve("remove"), headers=coordinator.headers
    )
    assert r.status_code == 200, r.text
    assert (await client.get(f"/v1/needs/{need['id']}", headers=volunteer.headers)).json()[
        "status"
    ] == "cancelled"


async def test_remove_pauses_an_offer_and_cancels_a_match(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    boss = await admin(client, application)
    requester, volunteer = await member(client), await member(client)
    _, their_offer, match = await accepted_match(client, requester, volunteer)
    about_offer = (await report(client, requester, "offer", their_offer["id"])).json()
    about_match = (await report(client, volunteer, "match", match["id"])).json()
    for made in (about_offer, about_match):
        r = await client.post(
            f"/v1/reports/{made['id']}/resolve", json=_resolve("remove"), headers=boss.headers
        )
        assert r.status_code == 200, r.text
        assert r.json()["reporter_id"] in {requester.id, volunteer.id}
    seen = (await client.get(f"/v1/offers/{their_offer['id']}", headers=volunteer.headers)).json()
    assert seen["status"] == "paused"
    assert (await client.get(f"/v1/matches/{match['id']}", headers=requester.headers)).json()[
        "status"
    ] == "cancelled"


async def test_only_platform_admins_suspend(client: httpx.AsyncClient, application: FastAPI) -> None:
    coordinator, volunteer, reporter, need, made = await _queued(client)
    r = await client.post(
        f"/v1/reports/{made['id']}/resolve", json=_resolve("suspend"), headers=coordinator.headers
    )
    assert_problem(r, 403)
    org = (await client.get(f"/v1/needs/{need['id']}", headers=coordinator.headers)).json()["organization_id"]
    await join(client, coordinator, org, reporter)  # now they share an organisation
    about_member = (await report(client, reporter, "member", volunteer.id)).json()
    r = await client.post(
        f"/v1/reports/{about_member['id']}/resolve", json=_resolve("remove"), headers=coordinator.headers
    )
    assert_problem(r, 403)  # removing a member is suspending them
    boss = await admin(client, application)
    # A statement of the full 4,000 characters becomes the suspension's reason whole.
    statement = "Reasons. " * 444 + "done"
    r = await client.post(
        f"/v1/reports/{made['id']}/resolve", json=_resolve("suspend", statement), headers=boss.headers
    )
    assert r.status_code == 200, r.text
    assert_problem(await client.get("/v1/members/me", headers=volunteer.headers), 401)


async def test_the_reporter_reads_but_does_not_decide_and_strangers_see_nothing(
    client: httpx.AsyncClient,
) -> None:
    _, volunteer, reporter, _, made = await _queued(client)
    stranger = await member(client)
    path = f"/v1/reports/{made['id']}/resolve"
    assert_problem(await client.post(path, json=_resolve("dismiss"), headers=reporter.headers), 403)
    assert_problem(await client.post(path, json=_resolve("dismiss"), headers=stranger.headers), 404)
    # The reported member is no moderator of reports about themselves.
    assert_problem(await client.post(path, json=_resolve("dismiss"), headers=volunteer.headers), 404)
    assert_problem(
        await client.post(path, json={"action": "dismiss", "statement": ""}, headers=reporter.headers), 422
    )


@pytest.fixture
def told() -> Iterator[list[tuple[str, str | None, str | None, str | None]]]:
    """Listen on the resolution hook, as notifications will; the wiring is put back after."""
    heard: list[tuple[str, str | None, str | None, str | None]] = []

    async def listener(session: AsyncSession, report: Report) -> None:
        heard.append(
            (str(report.reporter_id), str(report.subject_member_id), report.action, report.statement)
        )

    saved = hooks.domains()
    hooks.connect(dataclasses.replace(saved, resolved=(listener,)))
    yield heard
    hooks.connect(saved)


async def test_the_hook_hears_the_reporter_the_reported_member_and_the_reasons(
    client: httpx.AsyncClient,
    application: FastAPI,
    told: list[tuple[str, str | None, str | None, str | None]],
) -> None:
    coordinator, volunteer, reporter, _, made = await _queued(client)
    statement = "The need asked volunteers for bank details."
    r = await client.post(
        f"/v1/reports/{made['id']}/resolve", json=_resolve("remove", statement), headers=coordinator.headers
    )
    assert r.status_code == 200, r.text
    assert told == [(reporter.id, volunteer.id, "remove", statement)]
    async with application.state.sessionmaker() as session:
        actions = (
            await session.exec(select(AdminAction).where(col(AdminAction.report_id) == uuid.UUID(made["id"])))
        ).all()
    assert [(str(a.actor_member_id), a.action, a.detail) for a in actions] == [
        (coordinator.id, "report_remove", statement)
    ]


async def test_a_failed_resolution_tells_nobody(
    client: httpx.AsyncClient, told: list[tuple[str, str | None, str | None, str | None]]
) -> None:
    coordinator, _, _, _, made = await _queued(client)
    await client.post(
        f"/v1/reports/{made['id']}/resolve", json=_resolve("suspend"), headers=coordinator.headers
    )
    assert told == []


@pytest.mark.own_app
async def test_reports_are_rate_limited_per_reporter(database_url: str) -> None:
    from tests.conftest import app_for_test

    async with app_for_test(database_url, rate_limit_reports="2/minute") as app:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            owner, reporter, other = [await member(client) for _ in range(3)]
            need = await public_need(client, owner)
            codes = [(await report(client, reporter, "need", need["id"])).status_code for _ in range(3)]
            assert codes == [201, 201, 429]
            limited = await report(client, reporter, "need", need["id"])
            assert_problem(limited, 429)
            assert int(limited.headers["retry-after"]) >= 1
            # Another reporter has a budget of their own.
            assert (await report(client, other, "need", need["id"])).status_code == 201
            assert len((await client.get("/v1/reports", headers=reporter.headers)).json()["items"]) == 2
