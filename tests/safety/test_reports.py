"""Reports: filing about what one can see, who reads which report, and the organisation queue."""

import uuid

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import activity, assert_problem, join, member, need_body, organization
from tests.safety.moderation import HERE, accepted_match, admin, offer, public_need, report


async def test_a_report_about_a_public_need_is_open_and_listed_for_its_reporter_only(
    client: httpx.AsyncClient,
) -> None:
    owner, reporter = await member(client), await member(client)
    need = await public_need(client, owner)
    r = await report(client, reporter, "need", need["id"], detail="Asks for cash up front.")
    assert r.status_code == 201, r.text
    made = r.json()
    assert r.headers["location"] == f"/v1/reports/{made['id']}"
    assert {k: made[k] for k in ("subject_type", "subject_id", "reason", "detail", "status", "action")} == {
        "subject_type": "need",
        "subject_id": need["id"],
        "reason": "harassment",
        "detail": "Asks for cash up front.",
        "status": "open",
        "action": None,
    }
    assert "reporter_id" not in made
    mine = (await client.get("/v1/reports", headers=reporter.headers)).json()["items"]
    assert [x["id"] for x in mine] == [made["id"]]
    # The reported member sees nothing of it, neither in the list nor by id.
    assert (await client.get("/v1/reports", headers=owner.headers)).json()["items"] == []
    assert_problem(await client.get(f"/v1/reports/{made['id']}", headers=owner.headers), 404)
    assert (await client.get(f"/v1/reports/{made['id']}", headers=reporter.headers)).json() == made


@pytest.mark.parametrize("subject_type", ["need", "offer", "match", "member", "message", "activity"])
async def test_an_unknown_id_is_404_for_every_subject_type(
    client: httpx.AsyncClient, subject_type: str
) -> None:
    reporter = await member(client)
    assert_problem(await report(client, reporter, subject_type, str(uuid.uuid4())), 404)


async def test_what_the_reporter_cannot_see_is_404_as_if_missing(client: httpx.AsyncClient) -> None:
    coordinator, stranger = await member(client), await member(client)
    org = (await organization(client, coordinator))["id"]
    hidden = need_body(organization_id=org, visibility="organization", location=HERE)
    need = (await client.post("/v1/needs", json=hidden, headers=coordinator.headers)).json()
    their_offer = await offer(client, coordinator)
    for subject_type, subject_id in [
        ("need", need["id"]),
        ("offer", their_offer["id"]),
        ("member", coordinator.id),
    ]:
        body = assert_problem(await report(client, stranger, subject_type, subject_id), 404)
        assert body["detail"] == f"No such {subject_type} that you can see."


async def test_members_and_offers_become_reportable_once_met(client: httpx.AsyncClient) -> None:
    requester, volunteer = await member(client), await member(client)
    _, their_offer, match = await accepted_match(client, requester, volunteer)
    for subject_type, subject_id in [
        ("member", volunteer.id),
        ("offer", their_offer["id"]),
        ("match", match["id"]),
    ]:
        r = await report(client, requester, subject_type, subject_id)
        assert r.status_code == 201, (subject_type, r.text)
    # The volunteer reports the requester through the same match: about the other side.
    assert (await report(client, volunteer, "member", requester.id)).status_code == 201


async def test_nobody_reports_themselves(client: httpx.AsyncClient) -> None:
    owner = await member(client)
    need = await public_need(client, owner)
    assert_problem(await report(client, owner, "need", need["id"]), 422)
    assert_problem(await report(client, owner, "member", owner.id), 404)


async def test_bad_bodies_are_422(client: httpx.AsyncClient) -> None:
    reporter = await member(client)
    for body in [
        {"subject_type": "post", "subject_id": str(uuid.uuid4()), "reason": "spam"},
        {"subject_type": "need", "subject_id": "nope", "reason": "spam"},
        {"subject_type": "need", "subject_id": str(uuid.uuid4()), "reason": "rude"},
        {"subject_type": "need", "subject_id": str(uuid.uuid4()), "reason": "spam", "detail": " "},
    ]:
        assert_problem(await client.post("/v1/reports", json=body, headers=reporter.headers), 422)


async def test_the_organisation_queue_holds_its_own_subjects_and_never_the_reporter(
    client: httpx.AsyncClient,
) -> None:
    coordinator, other_coordinator, volunteer, reporter = [await member(client) for _ in range(4)]
    org = (await organization(client, coordinator))["id"]
    other_org = (await organization(client, other_coordinator))["id"]
    await join(client, coordinator, org, volunteer)
    await join(client, coordinator, org, reporter)
    theirs = await public_need(client, volunteer, organization_id=org)
    elsewhere = await public_need(client, other_coordinator, organization_id=other_org)
    about_need = (await report(client, reporter, "need", theirs["id"])).json()
    about_member = (await report(client, reporter, "member", volunteer.id)).json()
    # A report about the coordinator themselves stays out of their own queue.
    about_coordinator = await report(client, reporter, "member", coordinator.id)
    assert about_coordinator.status_code == 201
    not_ours = (await report(client, reporter, "need", elsewhere["id"])).json()

    queue = await client.get(f"/v1/organizations/{org}/reports", headers=coordinator.headers)
    assert queue.status_code == 200, queue.text
    items = queue.json()["items"]
    assert {x["id"] for x in items} == {about_need["id"], about_member["id"]}
    assert all("reporter_id" not in x for x in items)
    assert [x["subject_member_id"] for x in items] == [volunteer.id, volunteer.id]
    # A need filed for the other organisation is the organisation's (docs/ownership.md), not its
    # filer's: it is in that organisation's queue, with no member behind it.
    other = await client.get(f"/v1/organizations/{other_org}/reports", headers=other_coordinator.headers)
    assert [(x["id"], x["subject_member_id"]) for x in other.json()["items"]] == [(not_ours["id"], None)]
    assert not_ours["status"] == "open"
    assert_problem(
        await client.get(f"/v1/organizations/{org}/reports", headers=other_coordinator.headers), 404
    )
    assert_problem(await client.get(f"/v1/organizations/{org}/reports", headers=volunteer.headers), 404)
    filtered = await client.get(
        f"/v1/organizations/{org}/reports?status=resolved", headers=coordinator.headers
    )
    assert filtered.json()["items"] == []


async def test_admins_list_every_report_with_its_reporter_but_not_those_about_themselves(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    boss = await admin(client, application)
    owner, reporter = await member(client), await member(client)
    need = await public_need(client, owner)
    about_need = (await report(client, reporter, "need", need["id"])).json()
    own_need = await public_need(client, boss)
    about_admin = (await report(client, reporter, "need", own_need["id"])).json()
    listed = (await client.get("/v1/reports", headers=boss.headers)).json()["items"]
    assert [(x["id"], x["reporter_id"]) for x in listed] == [(about_need["id"], reporter.id)]
    assert_problem(await client.get(f"/v1/reports/{about_admin['id']}", headers=boss.headers), 404)


async def test_a_report_about_a_member_reaches_only_an_organisation_both_belonged_to_when_it_was_filed(
    client: httpx.AsyncClient,
) -> None:
    """Coordinators add members without asking them: adding someone afterwards (or adding the
    reported member alone) must not open the reports about them to an organisation of one's own."""
    lead, reporter, reported, outsider = [await member(client) for _ in range(4)]
    org = (await organization(client, lead))["id"]
    await join(client, lead, org, reporter)
    await join(client, lead, org, reported)
    detail = "Came to my flat at 12 Example Road uninvited."
    before = (await report(client, reporter, "member", reported.id, detail=detail)).json()
    # A fresh account founds an organisation and adds the reported member (then the reporter).
    theirs = (await organization(client, outsider))["id"]
    await join(client, outsider, theirs, reported)
    after_subject_alone = (await report(client, reporter, "member", reported.id, detail=detail)).json()
    await join(client, outsider, theirs, reporter)

    queue = (await client.get(f"/v1/organizations/{theirs}/reports", headers=outsider.headers)).json()
    assert queue["items"] == []
    for made in (before, after_subject_alone):
        assert_problem(await client.get(f"/v1/reports/{made['id']}", headers=outsider.headers), 404)
        resolve = {"action": "dismiss", "statement": "Nothing to see."}
        r = await client.post(f"/v1/reports/{made['id']}/resolve", json=resolve, headers=outsider.headers)
        assert_problem(r, 404)
    # Where the two met, the reports are in the queue, naming the member.
    ours = (await client.get(f"/v1/organizations/{org}/reports", headers=lead.headers)).json()["items"]
    assert {(x["id"], x["subject_member_id"]) for x in ours} == {
        (before["id"], reported.id),
        (after_subject_alone["id"], reported.id),
    }


async def test_a_coordinator_never_learns_from_a_report_who_an_unnamed_volunteer_is(
    client: httpx.AsyncClient,
) -> None:
    """A proposal from an organisation's need names no volunteer to its coordinators; a report
    about that match names none either, in the queue, read by id, or decided."""
    lead, volunteer = await member(client), await member(client)
    org = (await organization(client, lead))["id"]
    need = await public_need(client, lead, organization_id=org)
    their_offer = await offer(client, volunteer)
    body = {"need_id": need["id"], "offer_id": their_offer["id"]}
    proposed = await client.post("/v1/matches", json=body, headers=lead.headers)
    assert proposed.status_code == 201, proposed.text
    assert volunteer.id not in proposed.text
    made = await report(client, lead, "match", proposed.json()["id"])
    assert made.status_code == 201, made.text
    queue = (await client.get(f"/v1/organizations/{org}/reports", headers=lead.headers)).json()["items"]
    assert [(x["id"], x["subject_member_id"]) for x in queue] == [(made.json()["id"], None)]
    # Filed by the coordinator, the report reads as its reporter's; a second coordinator
    # moderates it as the queue's.
    second = await member(client)
    await join(client, lead, org, second, role="coordinator")
    read = await client.get(f"/v1/reports/{made.json()['id']}", headers=second.headers)
    assert read.status_code == 200, read.text
    assert volunteer.id not in read.text
    decided = await client.post(
        f"/v1/reports/{made.json()['id']}/resolve",
        json={"action": "warn", "statement": "Please keep to the agreed time."},
        headers=second.headers,
    )
    assert decided.status_code == 200, decided.text
    assert volunteer.id not in decided.text


async def test_an_activity_is_reported_as_seen_and_removing_it_cancels_it(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    """An activity anyone may see may be reported by anyone; a hidden one (a block) is 404, one's
    own is 422. An organisation's joins its queue, and its coordinators' `remove` cancels it (its
    participants told); a member's own is for platform admins."""
    lead, maker, host, participant, reporter, blocked = [await member(client) for _ in range(6)]
    org = (await organization(client, lead))["id"]
    await join(client, lead, org, maker, role="coordinator")
    theirs = await activity(client, maker, organization_id=org)
    own = await activity(client, host)
    assert (
        await client.post(f"/v1/activities/{own['id']}/join", headers=participant.headers)
    ).status_code == 201
    assert (await client.put(f"/v1/members/me/blocks/{blocked.id}", headers=host.headers)).status_code == 204

    assert_problem(await report(client, blocked, "activity", own["id"]), 404)
    assert_problem(await report(client, host, "activity", own["id"]), 422)
    about_theirs = await report(
        client, reporter, "activity", theirs["id"], detail="The meeting point is unsafe."
    )
    about_own = await report(client, reporter, "activity", own["id"])
    assert (about_theirs.status_code, about_own.status_code) == (201, 201), (
        about_theirs.text,
        about_own.text,
    )

    queue = (await client.get(f"/v1/organizations/{org}/reports", headers=lead.headers)).json()["items"]
    assert [(r["id"], r["subject_type"]) for r in queue] == [(about_theirs.json()["id"], "activity")]
    assert (await client.get(f"/v1/organizations/{org}/reports", headers=maker.headers)).json()["items"] == []
    decided = await client.post(
        f"/v1/reports/{about_theirs.json()['id']}/resolve",
        json={"action": "remove", "statement": "The meeting point was unsafe; the activity is cancelled."},
        headers=lead.headers,
    )
    assert decided.status_code == 200, decided.text
    assert (await client.get(f"/v1/activities/{theirs['id']}")).json()["status"] == "cancelled"
    refused = await client.post(
        f"/v1/reports/{about_own.json()['id']}/resolve",
        json={"action": "remove", "statement": "Not ours to decide."},
        headers=lead.headers,
    )
    assert_problem(refused, 404)  # not in its queue: as if there were no such report

    boss = await admin(client, application)
    removed = await client.post(
        f"/v1/reports/{about_own.json()['id']}/resolve",
        json={"action": "remove", "statement": "Reports of harassment at this walk; it is cancelled."},
        headers=boss.headers,
    )
    assert removed.status_code == 200, removed.text
    assert (await client.get(f"/v1/activities/{own['id']}")).json()["status"] == "cancelled"
    told = (await client.get("/v1/notifications", headers=participant.headers)).json()["items"]
    assert {"activity_id": own["id"], "change": "cancelled"} in [n["data"] for n in told]
    decision = (await client.get("/v1/notifications", headers=host.headers)).json()["items"]
    assert any(n["type"].startswith("report.") for n in decision), [n["type"] for n in decision]


async def test_a_coordinator_never_decides_about_a_member_blocked_with_them(
    client: httpx.AsyncClient,
) -> None:
    """A decision's statement reaches the member it is about: a coordinator blocked either way
    with that member neither sees the report nor decides it (404, as for another queue's); the
    organisation's other coordinators do."""
    lead, blocked_lead, volunteer, reporter = [await member(client) for _ in range(4)]
    org = (await organization(client, lead))["id"]
    for who, role in ((blocked_lead, "coordinator"), (volunteer, "volunteer"), (reporter, "volunteer")):
        await join(client, lead, org, who, role=role)
    made = (await report(client, reporter, "member", volunteer.id)).json()
    assert (
        await client.put(f"/v1/members/me/blocks/{blocked_lead.id}", headers=volunteer.headers)
    ).status_code == 204
    path = f"/v1/reports/{made['id']}"
    assert (await client.get(f"/v1/organizations/{org}/reports", headers=blocked_lead.headers)).json()[
        "items"
    ] == []
    assert_problem(await client.get(path, headers=blocked_lead.headers), 404)
    warn = {"action": "warn", "statement": "A word about your conduct."}
    assert_problem(await client.post(f"{path}/resolve", json=warn, headers=blocked_lead.headers), 404)
    assert [
        x["id"]
        for x in (await client.get(f"/v1/organizations/{org}/reports", headers=lead.headers)).json()["items"]
    ] == [made["id"]]
    assert (await client.post(f"{path}/resolve", json=warn, headers=lead.headers)).status_code == 200
