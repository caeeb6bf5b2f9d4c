"""An organisation whose coordinators can no longer act (the last one erased their account, or
every one is suspended) is not left beyond everyone's reach: a platform admin appoints one of
its members, or themselves, and that is recorded. While one coordinator can act, nobody but the
coordinators changes roles, and none of them may leave only suspended ones behind."""

import uuid

import httpx
from fastapi import FastAPI
from sqlmodel import col, select

from app.audit.models import AdminAction
from tests.factories import PASSWORD, Member, assert_problem, join, member, need_body, organization
from tests.safety.moderation import admin

APPOINT = "/v1/admin/organizations/{org}/coordinators"
REASON = "Its only coordinator closed their account; the longest-serving volunteer takes over."


async def _suspend(client: httpx.AsyncClient, boss: Member, who: Member) -> None:
    r = await client.post(
        f"/v1/admin/members/{who.id}/suspend", json={"reason": "Spam."}, headers=boss.headers
    )
    assert r.status_code == 200, r.text


async def test_a_platform_admin_appoints_a_member_when_the_last_coordinator_has_gone(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    boss = await admin(client, application)
    solo, volunteer, stranger = await member(client), await member(client), await member(client)
    org = (await organization(client, solo))["id"]
    await join(client, solo, org, volunteer)
    need = await client.post(
        "/v1/needs", json=need_body(organization_id=org, address="Flat 2, Example Row"), headers=solo.headers
    )
    assert need.status_code == 201, need.text
    url = APPOINT.format(org=org)
    body = {"member_id": volunteer.id, "reason": REASON}
    # While its coordinator can act, they appoint others: the platform does not step in.
    assert_problem(await client.post(url, json=body, headers=boss.headers), 409)

    r = await client.request("DELETE", "/v1/members/me", json={"password": PASSWORD}, headers=solo.headers)
    assert r.status_code == 204, r.text
    # Nobody can act for it now: the volunteer cannot promote themselves, and sees its need as
    # anyone does (no address).
    promote = {"role": "coordinator"}
    membership = f"/v1/organizations/{org}/members/{volunteer.id}"
    assert_problem(await client.put(membership, json=promote, headers=volunteer.headers), 403)
    r = await client.get(f"/v1/needs/{need.json()['id']}", headers=volunteer.headers)
    assert (r.status_code, r.json()["view"], r.json().get("address")) == (200, "public", None)

    # Only a platform admin appoints, only one of its members (or themselves), with a reason.
    assert_problem(await client.post(url, json=body, headers=volunteer.headers), 403)
    stranger_body = {"member_id": stranger.id, "reason": REASON}
    assert_problem(await client.post(url, json=stranger_body, headers=boss.headers), 404)
    assert_problem(await client.post(url, json={"member_id": volunteer.id}, headers=boss.headers), 422)
    unknown = APPOINT.format(org=uuid.uuid4())
    assert_problem(await client.post(unknown, json=body, headers=boss.headers), 404)
    r = await client.post(url, json=body, headers=boss.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["member_id"], r.json()["role"]) == (volunteer.id, "coordinator")
    # The new coordinator acts for it from the next request; a second appointment is 409.
    r = await client.get(f"/v1/needs/{need.json()['id']}", headers=volunteer.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["view"], r.json()["address"]) == ("owner", "Flat 2, Example Row")
    assert_problem(await client.post(url, json=body, headers=boss.headers), 409)
    async with application.state.sessionmaker() as session:
        [action] = (
            await session.exec(select(AdminAction).where(col(AdminAction.action) == "appoint_coordinator"))
        ).all()
    assert (str(action.actor_member_id), str(action.target_member_id)) == (boss.id, volunteer.id)
    assert (action.detail, str(action.organization_id)) == (REASON, org)


async def test_an_admin_may_appoint_themselves_to_an_organisation_with_no_member_left(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    boss, solo = await admin(client, application), await member(client)
    org = (await organization(client, solo))["id"]
    r = await client.request("DELETE", "/v1/members/me", json={"password": PASSWORD}, headers=solo.headers)
    assert r.status_code == 204, r.text
    long = "Reasons. " * 444 + "done"  # the 4,000 characters a statement may have
    assert len(long) == 4000
    body = {"member_id": boss.id, "reason": long}
    r = await client.post(APPOINT.format(org=org), json=body, headers=boss.headers)
    assert r.status_code == 201, r.text
    assert (r.json()["member_id"], r.json()["role"]) == (boss.id, "coordinator")
    assert r.headers["Location"] == f"/v1/organizations/{org}/members/{boss.id}"


async def test_suspended_coordinators_do_not_count_as_one_left(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    boss, first, second = await admin(client, application), await member(client), await member(client)
    org = (await organization(client, first))["id"]
    await join(client, first, org, second, role="coordinator")
    r = await client.post(
        f"/v1/admin/members/{second.id}/suspend", json={"reason": "Spam."}, headers=boss.headers
    )
    assert r.status_code == 200, r.text
    step_down = {"role": "volunteer"}
    r = await client.put(f"/v1/organizations/{org}/members/{first.id}", json=step_down, headers=first.headers)
    assert_problem(r, 409)
    # A suspended member is not appointed either, when no one else can act.
    r = await client.post(
        f"/v1/admin/members/{first.id}/suspend", json={"reason": "Spam."}, headers=boss.headers
    )
    assert r.status_code == 200, r.text
    body = {"member_id": second.id, "reason": REASON}
    assert_problem(await client.post(APPOINT.format(org=org), json=body, headers=boss.headers), 409)
