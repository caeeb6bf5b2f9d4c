"""Suspension: credentials refused from the next request, offers and public needs out of sight,
open matches cancelled as ordinary cancellations, and everything back on reinstatement."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import col, select

from app.audit.models import AdminAction
from app.members.models import Member as MemberRow
from app.webhooks.models import WebhookEvent
from tests.factories import (
    ALL_SCOPES,
    Member,
    activity,
    api_key,
    assert_problem,
    join,
    member,
    need_body,
    organization,
)
from tests.safety.moderation import HERE, accepted_match, admin, offer, public_need

REASON = {"reason": "Repeated harassment of requesters."}


async def _suspend(client: httpx.AsyncClient, boss: Member, who: Member, **body: object) -> httpx.Response:
    return await client.post(
        f"/v1/admin/members/{who.id}/suspend", json={**REASON, **body}, headers=boss.headers
    )


async def test_a_token_issued_before_is_refused_from_the_next_request_until_reinstated(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    boss, who = await admin(client, application), await member(client)
    assert (await client.get("/v1/members/me", headers=who.headers)).status_code == 200
    login = {"username": who.data["email"], "password": "correct horse battery"}
    kept = (await client.post("/v1/auth/token", data=login)).json()
    r = await _suspend(client, boss, who)
    assert r.status_code == 200, r.text
    state = r.json()
    assert (state["member_id"], state["suspended"], state["reason"], state["suspended_until"]) == (
        who.id,
        True,
        REASON["reason"],
        None,
    )
    assert_problem(await client.get("/v1/members/me", headers=who.headers), 401)
    login = {"username": who.data["email"], "password": "correct horse battery"}
    assert_problem(await client.post("/v1/auth/token", data=login), 401)
    # Nor does a refresh token issued before trade itself for a new pair, or a longer session.
    refused = await client.post("/v1/auth/refresh", json={"refresh_token": kept["refresh_token"]})
    assert "suspended" in assert_problem(refused, 401)["detail"]
    back = await client.post(f"/v1/admin/members/{who.id}/reinstate", headers=boss.headers)
    assert back.status_code == 200, back.text
    assert back.json()["suspended"] is False
    assert (await client.get("/v1/members/me", headers=who.headers)).status_code == 200
    assert (await client.post("/v1/auth/token", data=login)).status_code == 200
    r = await client.post("/v1/auth/refresh", json={"refresh_token": kept["refresh_token"]})
    assert r.status_code == 200, r.text  # refused, not spent: the session goes on
    async with application.state.sessionmaker() as session:
        rows = (
            await session.exec(
                select(AdminAction)
                .where(col(AdminAction.target_member_id) == uuid.UUID(who.id))
                .order_by(col(AdminAction.at))
            )
        ).all()
    assert [(str(a.actor_member_id), a.action) for a in rows] == [
        (boss.id, "suspend"),
        (boss.id, "reinstate"),
    ]


async def test_keys_a_suspended_coordinator_created_are_refused(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    boss, coordinator = await admin(client, application), await member(client)
    org = (await organization(client, coordinator))["id"]
    key = await api_key(client, coordinator, org, ALL_SCOPES)
    assert (await client.get("/v1/needs", headers=key["headers"])).status_code == 200
    assert (await _suspend(client, boss, coordinator)).status_code == 200
    assert_problem(await client.get("/v1/needs", headers=key["headers"]), 401)
    await client.post(f"/v1/admin/members/{coordinator.id}/reinstate", headers=boss.headers)
    assert (await client.get("/v1/needs", headers=key["headers"])).status_code == 200


async def test_a_suspension_lapses_by_itself_at_until(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    boss, who = await admin(client, application), await member(client)
    until = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    r = await _suspend(client, boss, who, until=until)
    assert r.status_code == 200, r.text
    assert datetime.fromisoformat(r.json()["suspended_until"]) == datetime.fromisoformat(until)
    assert_problem(await client.get("/v1/members/me", headers=who.headers), 401)
    async with application.state.sessionmaker() as session:  # three days pass
        past = datetime.now(UTC) - timedelta(seconds=1)
        await session.exec(
            update(MemberRow).where(col(MemberRow.id) == uuid.UUID(who.id)).values(suspended_until=past)
        )
        await session.commit()
    assert (await client.get("/v1/members/me", headers=who.headers)).status_code == 200


async def test_bad_suspensions_are_refused(client: httpx.AsyncClient, application: FastAPI) -> None:
    boss, who = await admin(client, application), await member(client)
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    assert_problem(await _suspend(client, boss, who, until=past), 422)
    assert_problem(await _suspend(client, boss, boss), 422)
    r = await client.post(f"/v1/admin/members/{uuid.uuid4()}/suspend", json=REASON, headers=boss.headers)
    assert_problem(r, 404)
    assert_problem(
        await client.post(f"/v1/admin/members/{uuid.uuid4()}/reinstate", headers=boss.headers), 404
    )
    # Nothing happened to the member.
    assert (await client.get("/v1/members/me", headers=who.headers)).status_code == 200


async def test_a_reason_of_the_full_length_is_recorded_whole_with_its_end(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    """A statement may hold 4,000 characters; the admin log keeps it whole, and the suspension's
    end in a column of its own (it once went into the same text, past its length: a 500)."""
    boss, who = await admin(client, application), await member(client)
    reason = "Reasons. " * 444 + "done"
    until = datetime.now(UTC) + timedelta(days=7)
    r = await _suspend(client, boss, who, reason=reason, until=until.isoformat())
    assert r.status_code == 200, r.text
    async with application.state.sessionmaker() as session:
        [action] = (await session.exec(select(AdminAction).where(col(AdminAction.action) == "suspend"))).all()
    assert action.detail == reason
    assert action.until is not None
    assert abs((action.until - until).total_seconds()) < 1


async def test_only_platform_admins_suspend(client: httpx.AsyncClient) -> None:
    who, other = await member(client), await member(client)
    assert_problem(await _suspend(client, other, who), 403)
    anonymous = await client.post(f"/v1/admin/members/{who.id}/suspend", json=REASON)
    assert_problem(anonymous, 401)


async def test_offers_and_public_needs_leave_every_search(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    boss = await admin(client, application)
    requester, volunteer, other_volunteer, coordinator = [await member(client) for _ in range(4)]
    org = (await organization(client, coordinator))["id"]
    await join(client, coordinator, org, volunteer)
    need = await public_need(client, requester)
    theirs = await offer(client, volunteer, organization_id=org)
    spare = await offer(client, other_volunteer)

    async def candidates() -> set[str]:
        r = await client.get(f"/v1/needs/{need['id']}/candidates", headers=requester.headers)
        assert r.status_code == 200, r.text
        return {c["offer_id"] for c in r.json()["items"]}

    async def opportunities() -> set[str]:
        r = await client.get(f"/v1/offers/{spare['id']}/opportunities", headers=other_volunteer.headers)
        assert r.status_code == 200, r.text
        return {o["id"] for o in r.json()["items"]}

    assert await candidates() == {theirs["id"], spare["id"]}
    assert need["id"] in await opportunities()
    assert (await _suspend(client, boss, volunteer)).status_code == 200
    assert await candidates() == {spare["id"]}
    # Proposed to by id, their offer is not there: the answer of an offer that never existed.
    proposals = [
        await client.post(
            "/v1/matches", json={"need_id": need["id"], "offer_id": offer_id}, headers=requester.headers
        )
        for offer_id in (theirs["id"], str(uuid.uuid4()))
    ]
    assert [r.status_code for r in proposals] == [404, 404]
    assert proposals[0].json()["detail"] == proposals[1].json()["detail"]
    # Their organisation no longer sees the offer either.
    assert_problem(await client.get(f"/v1/offers/{theirs['id']}", headers=coordinator.headers), 404)
    listed = (await client.get("/v1/offers", headers=coordinator.headers)).json()["items"]
    assert theirs["id"] not in {o["id"] for o in listed}
    # A suspended requester's need leaves opportunities, the public list and public reads.
    assert (await _suspend(client, boss, requester)).status_code == 200
    assert need["id"] not in await opportunities()
    assert need["id"] not in {n["id"] for n in (await client.get("/v1/needs")).json()["items"]}
    assert_problem(await client.get(f"/v1/needs/{need['id']}"), 404)
    # A claim on it gets the answer a need that never existed gets: nothing says it is there,
    # nor that its requester is suspended.
    claims = [
        await client.post(
            "/v1/matches", json={"need_id": need_id, "offer_id": spare["id"]}, headers=other_volunteer.headers
        )
        for need_id in (need["id"], str(uuid.uuid4()))
    ]
    assert [r.status_code for r in claims] == [404, 404]
    assert claims[0].json()["detail"] == claims[1].json()["detail"]
    for who in (requester, volunteer):
        await client.post(f"/v1/admin/members/{who.id}/reinstate", headers=boss.headers)
    assert need["id"] in await opportunities()
    assert (await client.get(f"/v1/needs/{need['id']}")).status_code == 200


async def test_open_matches_are_cancelled_as_ordinary_cancellations(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    boss, coordinator, volunteer = (
        await admin(client, application),
        await member(client),
        await member(client),
    )
    org = (await organization(client, coordinator))["id"]
    hook = {"url": "https://hooks.example.org/mutual-aid", "events": ["match.cancelled"]}
    made = await client.post(f"/v1/organizations/{org}/webhooks", json=hook, headers=coordinator.headers)
    assert made.status_code == 201, made.text
    need = (
        await client.post(
            "/v1/needs", json=need_body(organization_id=org, location=HERE), headers=coordinator.headers
        )
    ).json()
    their_offer = await offer(client, volunteer)
    body = {"need_id": need["id"], "offer_id": their_offer["id"]}
    match = (await client.post("/v1/matches", json=body, headers=coordinator.headers)).json()
    assert (
        await client.post(f"/v1/matches/{match['id']}/accept", headers=volunteer.headers)
    ).status_code == 200
    _, _, elsewhere = await accepted_match(client, await member(client), volunteer)

    r = await _suspend(client, boss, volunteer)
    assert r.json()["matches_cancelled"] == 2
    seen = await client.get(f"/v1/matches/{match['id']}", headers=coordinator.headers)
    assert seen.json()["status"] == "cancelled"
    # The slot is free again and the need open: the other side may look for someone else.
    after = (await client.get(f"/v1/needs/{need['id']}", headers=coordinator.headers)).json()
    assert (after["status"], after["volunteers_accepted"]) == ("open", 0)
    async with application.state.sessionmaker() as session:
        events = (
            await session.exec(
                select(WebhookEvent).where(col(WebhookEvent.organization_id) == uuid.UUID(org))
            )
        ).all()
    cancelled = [e.payload for e in events if e.type == "match.cancelled"]
    assert len(cancelled) == 1
    assert cancelled[0]["data"]["match_id"] == match["id"]
    assert "suspend" not in str(cancelled[0]).lower()
    assert not [e for e in events if "member" in e.type]
    assert elsewhere["status"] == "accepted"


async def test_a_suspended_members_own_activities_leave_every_list_until_reinstated(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    """As their offers and needs: what a suspended member hosts for themselves is not there for
    anyone (reads, lists, joining, participants' calendar feeds), while an organisation's
    activity they made stays the organisation's; reinstatement brings them back."""
    boss = await admin(client, application)
    host, participant, stranger, lead = [await member(client) for _ in range(4)]
    org = (await organization(client, lead))["id"]
    await join(client, lead, org, host, role="coordinator")
    own = await activity(client, host)
    organisations = await activity(client, host, organization_id=org)
    assert (
        await client.post(f"/v1/activities/{own['id']}/join", headers=participant.headers)
    ).status_code == 201
    feed = (await client.post("/v1/members/me/calendar-feed", headers=participant.headers)).json()["url"]
    assert own["id"] in (await client.get(feed)).text

    async def seen(who: Member) -> set[str]:
        listed = (await client.get("/v1/activities", headers=who.headers)).json()["items"]
        near = (await client.get("/v1/activities?near=51.5,-0.12", headers=who.headers)).json()["items"]
        return {a["id"] for a in [*listed, *near]}

    assert (await _suspend(client, boss, host)).status_code == 200
    for who in (participant, stranger, lead):
        assert await seen(who) == {organisations["id"]}
        assert (await client.get(f"/v1/activities/{own['id']}", headers=who.headers)).status_code == 404
    assert (await client.get(f"/v1/activities/{own['id']}")).status_code == 404  # anonymous too
    assert {a["id"] for a in (await client.get("/v1/activities")).json()["items"]} == {organisations["id"]}
    assert (
        await client.post(f"/v1/activities/{own['id']}/join", headers=stranger.headers)
    ).status_code == 404
    calendar = f"/v1/activities/{own['id']}/calendar.ics"
    assert (await client.get(calendar, headers=participant.headers)).status_code == 404
    assert own["id"] not in (await client.get(feed)).text
    assert "north gate" not in (await client.get(feed)).text
    # Their export keeps the place, as anyone sees the activity: not the address.
    exported = (await client.get("/v1/members/me/export", headers=participant.headers)).json()
    assert [(a["id"], a["view"]) for a in exported["activities"]["joined"]] == [(own["id"], "public")]
    assert "north gate" not in str(exported["activities"])

    reinstated = await client.post(f"/v1/admin/members/{host.id}/reinstate", headers=boss.headers)
    assert reinstated.status_code == 200, reinstated.text
    assert await seen(stranger) == {own["id"], organisations["id"]}
    assert (await client.get(f"/v1/activities/{own['id']}", headers=participant.headers)).json()[
        "view"
    ] == "participant"
    assert own["id"] in (await client.get(feed)).text


async def test_a_place_freed_on_a_hidden_activity_is_filled_without_telling(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    """While the host is suspended their activity is not there for anyone: the first waitlisted
    still takes a freed place, but is not told of an activity they cannot see."""
    boss = await admin(client, application)
    host, leaving, waiting = [await member(client) for _ in range(3)]
    own = await activity(client, host, capacity=1)
    for who in (leaving, waiting):
        assert (await client.post(f"/v1/activities/{own['id']}/join", headers=who.headers)).status_code == 201
    assert (await _suspend(client, boss, host)).status_code == 200
    assert (
        await client.post(f"/v1/activities/{own['id']}/leave", headers=leaving.headers)
    ).status_code == 204
    told = (await client.get("/v1/notifications", headers=waiting.headers)).json()["items"]
    assert [n for n in told if n["type"] == "activity.updated"] == []
    assert (
        await client.post(f"/v1/admin/members/{host.id}/reinstate", headers=boss.headers)
    ).status_code == 200
    mine = (await client.get(f"/v1/activities/{own['id']}", headers=waiting.headers)).json()["my_status"]
    assert mine == "confirmed"
