"""A decided report tells its people through their inbox: the reporter the outcome, the member it
was about the decision (not a dismissal), whose statement of reasons they read on the report."""

import httpx
from fastapi import FastAPI

from tests.factories import Member, assert_problem, member
from tests.safety.moderation import admin, public_need, report


async def _inbox(client: httpx.AsyncClient, who: Member) -> list[dict]:
    r = await client.get("/v1/notifications", headers=who.headers)
    assert r.status_code == 200, r.text
    items: list[dict] = r.json()["items"]
    return items


async def _resolve(client: httpx.AsyncClient, moderator: Member, report_id: str, action: str) -> None:
    body = {"action": action, "statement": "The need's wording broke the community rules on respect."}
    r = await client.post(f"/v1/reports/{report_id}/resolve", json=body, headers=moderator.headers)
    assert r.status_code == 200, r.text


async def test_a_warning_reaches_both_and_its_reasons_only_the_member_it_concerns(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    author, reporter, bystander = await member(client), await member(client), await member(client)
    moderator = await admin(client, application)
    need = await public_need(client, author)
    filed = await report(client, reporter, "need", need["id"], detail="Rude words in the title.")
    assert filed.status_code == 201, filed.text
    report_id = filed.json()["id"]
    # Before a decision the member it is about has nothing to read, and is told nothing.
    assert_problem(await client.get(f"/v1/reports/{report_id}", headers=author.headers), 404)
    await _resolve(client, moderator, report_id, "warn")

    expected = {"report_id": report_id, "subject_type": "need", "subject_id": need["id"], "action": "warn"}
    [to_reporter] = await _inbox(client, reporter)
    [to_author] = await _inbox(client, author)
    assert (to_reporter["type"], to_reporter["data"]) == ("report.resolved", {**expected, "role": "reporter"})
    assert (to_author["type"], to_author["data"]) == ("report.resolved", {**expected, "role": "subject"})
    assert await _inbox(client, moderator) == []  # nobody is told of their own act

    decision = await client.get(f"/v1/reports/{report_id}", headers=author.headers)
    assert decision.status_code == 200, decision.text
    assert decision.json()["statement"] == "The need's wording broke the community rules on respect."
    assert decision.json()["action"] == "warn"
    for hidden in ("reporter_id", "detail", "reason"):
        assert hidden not in decision.json()  # never who reported, nor what they wrote
    assert reporter.id not in decision.text
    assert_problem(await client.get(f"/v1/reports/{report_id}", headers=bystander.headers), 404)


async def test_a_dismissal_tells_only_the_reporter(client: httpx.AsyncClient, application: FastAPI) -> None:
    author, reporter = await member(client), await member(client)
    moderator = await admin(client, application)
    need = await public_need(client, author)
    report_id = (await report(client, reporter, "need", need["id"])).json()["id"]
    await _resolve(client, moderator, report_id, "dismiss")
    assert [n["data"]["action"] for n in await _inbox(client, reporter)] == ["dismiss"]
    assert await _inbox(client, author) == []
    assert_problem(await client.get(f"/v1/reports/{report_id}", headers=author.headers), 404)
