"""Messages on a match: its two sides talk, nobody else sees a thing, ended matches are read-only."""

from typing import Any

import httpx
from fastapi import FastAPI

from tests.factories import Member, assert_problem, claim, join, member, need_body, offer_body, organization
from tests.safety.moderation import admin

HERE = {"lat": 51.5, "lon": -0.12}
CRISIS = "Honestly I want to kill myself."


async def _pair(
    client: httpx.AsyncClient, requester: Member | None = None
) -> tuple[Member, Member, dict[str, Any]]:
    """A requester, a volunteer and the volunteer's (proposed) claim on the requester's need."""
    requester = requester or await member(client)
    volunteer = await member(client)
    need = await client.post("/v1/needs", json=need_body(location=HERE), headers=requester.headers)
    offer = await client.post(
        "/v1/offers", json=offer_body(location=HERE, availability=[]), headers=volunteer.headers
    )
    return requester, volunteer, await claim(client, volunteer, need.json()["id"], offer.json()["id"])


def _url(match: dict[str, Any]) -> str:
    return f"/v1/matches/{match['id']}/messages"


async def _say(client: httpx.AsyncClient, who: Member, match: dict[str, Any], body: str) -> dict[str, Any]:
    r = await client.post(_url(match), json={"body": body}, headers=who.headers)
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == f"/v1/matches/{match['id']}/messages/{r.json()['id']}"
    written: dict[str, Any] = r.json()
    return written


async def _inbox(client: httpx.AsyncClient, who: Member) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await client.get("/v1/notifications", headers=who.headers)).json()["items"]
    return [n for n in items if n["type"] == "message.created"]


async def test_both_sides_talk_oldest_first_and_each_is_told_without_the_text(
    client: httpx.AsyncClient,
) -> None:
    requester, volunteer, match = await _pair(client)
    first = await _say(client, volunteer, match, "Hello, I can help on Saturday.")
    assert (first["author_side"], first["mine"], first["removed"], first["resources"]) == (
        "volunteer",
        True,
        False,
        [],
    )
    second = await _say(client, requester, match, "  Saturday suits me.\nThank you!  ")
    assert second["body"] == "Saturday suits me.\nThank you!"
    page = (await client.get(_url(match), headers=requester.headers)).json()
    assert [(m["id"], m["author_side"], m["mine"]) for m in page["items"]] == [
        (first["id"], "volunteer", False),
        (second["id"], "need", True),
    ]
    assert page["next_cursor"] is None
    one = await client.get(f"{_url(match)}/{first['id']}", headers=volunteer.headers)
    assert (one.status_code, one.json()["body"]) == (200, "Hello, I can help on Saturday.")
    told = await _inbox(client, requester)
    assert [n["data"] for n in told] == [
        {"match_id": match["id"], "need_id": match["need_id"], "message_id": first["id"]}
    ]
    assert [n["data"]["message_id"] for n in await _inbox(client, volunteer)] == [second["id"]]


async def test_pages_follow_the_cursor_to_newer_messages(client: httpx.AsyncClient) -> None:
    requester, volunteer, match = await _pair(client)
    sent = [(await _say(client, volunteer, match, f"Message {i}"))["id"] for i in range(5)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(_url(match), params=params, headers=requester.headers)).json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sent


async def test_strangers_other_coordinators_and_keys_get_404(client: httpx.AsyncClient) -> None:
    requester, volunteer, match = await _pair(client)
    message = await _say(client, volunteer, match, "Hello")
    stranger = await member(client)
    for path in (_url(match), f"{_url(match)}/{message['id']}"):
        assert_problem(await client.get(path, headers=stranger.headers), 404)
    assert_problem(await client.post(_url(match), json={"body": "hi"}, headers=stranger.headers), 404)
    other_match = (await _pair(client, requester))[2]
    assert_problem(await client.get(f"{_url(other_match)}/{message['id']}", headers=requester.headers), 404)


async def test_an_organisations_coordinators_speak_for_its_need_and_their_reads_are_audited(
    client: httpx.AsyncClient,
) -> None:
    coordinator, volunteer, colleague = await member(client), await member(client), await member(client)
    org = (await organization(client, coordinator))["id"]
    await join(client, coordinator, org, colleague, role="coordinator")
    filed = await client.post(
        "/v1/needs", json=need_body(location=HERE, organization_id=org), headers=coordinator.headers
    )
    assert filed.json()["requester_id"] is None
    offer = await client.post(
        "/v1/offers", json=offer_body(location=HERE, availability=[]), headers=volunteer.headers
    )
    match = await claim(client, volunteer, filed.json()["id"], offer.json()["id"])
    await _say(client, volunteer, match, "Hello from the volunteer")
    assert len(await _inbox(client, coordinator)) == 1
    assert len(await _inbox(client, colleague)) == 1
    await _say(client, colleague, match, "Thanks, we will be in touch")
    assert len(await _inbox(client, volunteer)) == 1
    assert len(await _inbox(client, coordinator)) == 1  # the other side is told, not the same side
    page = await client.get(_url(match), headers=coordinator.headers)
    assert [m["author_side"] for m in page.json()["items"]] == ["volunteer", "need"]
    audit = (await client.get(f"/v1/organizations/{org}/audit", headers=coordinator.headers)).json()
    assert [(e["fields"], e["actor"]["id"]) for e in audit["items"]] == [(["messages"], coordinator.id)]
    mine = (await client.get("/v1/members/me/audit", headers=volunteer.headers)).json()
    assert [e["fields"] for e in mine["items"]] == [["messages"]]


async def test_an_ended_match_is_read_only(client: httpx.AsyncClient) -> None:
    requester, volunteer, match = await _pair(client)
    await _say(client, volunteer, match, "Hello")
    assert (
        await client.post(f"/v1/matches/{match['id']}/decline", headers=requester.headers)
    ).status_code == 200
    assert_problem(await client.post(_url(match), json={"body": "Why?"}, headers=volunteer.headers), 409)
    assert [
        m["body"] for m in (await client.get(_url(match), headers=volunteer.headers)).json()["items"]
    ] == ["Hello"]


async def test_a_blocked_pair_sees_404_both_ways(client: httpx.AsyncClient) -> None:
    requester, volunteer, match = await _pair(client)
    await _say(client, volunteer, match, "Hello")
    assert (
        await client.put(f"/v1/members/me/blocks/{volunteer.id}", headers=requester.headers)
    ).status_code == 204
    for who in (requester, volunteer):
        assert_problem(await client.post(_url(match), json={"body": "hi"}, headers=who.headers), 404)
        assert_problem(await client.get(_url(match), headers=who.headers), 404)


async def test_bodies_are_validated_like_all_text(client: httpx.AsyncClient) -> None:
    _, volunteer, match = await _pair(client)
    for body in ("", "   ", "\u200b", "a\x07b", "x" * 2001):
        r = await client.post(_url(match), json={"body": body}, headers=volunteer.headers)
        assert_problem(r, 422)
    assert (await client.get(_url(match), headers=volunteer.headers)).json()["items"] == []
    await _say(client, volunteer, match, "x" * 2000)


async def test_crisis_language_gets_resources_for_the_author_only(client: httpx.AsyncClient) -> None:
    requester, volunteer, match = await _pair(client)
    written = await _say(client, requester, match, CRISIS)
    assert written["resources"]
    assert all("region" in r for r in written["resources"])
    read = (await client.get(_url(match), headers=volunteer.headers)).json()["items"]
    assert "resources" not in read[0]
    assert all("body" not in n["data"] for n in await _inbox(client, volunteer))


async def test_a_message_is_reported_by_the_other_side_and_removed(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    requester, volunteer, match = await _pair(client)
    message = await _say(client, volunteer, match, "Something unkind")
    subject = {"subject_type": "message", "subject_id": message["id"], "reason": "harassment"}
    assert_problem(
        await client.post("/v1/reports", json=subject, headers=(await member(client)).headers), 404
    )
    assert_problem(await client.post("/v1/reports", json=subject, headers=volunteer.headers), 422)
    report = await client.post("/v1/reports", json=subject, headers=requester.headers)
    assert report.status_code == 201, report.text
    assert report.json()["subject_type"] == "message"
    boss = await admin(client, application)
    decision = {"action": "remove", "statement": "Harassment is against the rules."}
    r = await client.post(f"/v1/reports/{report.json()['id']}/resolve", json=decision, headers=boss.headers)
    assert r.status_code == 200, r.text
    for who in (requester, volunteer):
        items = (await client.get(_url(match), headers=who.headers)).json()["items"]
        assert [(m["id"], m["body"], m["removed"]) for m in items] == [(message["id"], None, True)]


async def test_a_replay_shows_the_message_as_it_is_now_and_409_once_hidden(client: httpx.AsyncClient) -> None:
    requester, volunteer, match = await _pair(client)
    keyed = {**volunteer.headers, "Idempotency-Key": "message-1"}
    first = await client.post(_url(match), json={"body": CRISIS}, headers=keyed)
    again = await client.post(_url(match), json={"body": CRISIS}, headers=keyed)
    assert (again.status_code, again.headers["Idempotent-Replayed"]) == (201, "true")
    assert again.headers["Location"] == first.headers["Location"]
    assert again.json() == first.json()
    assert len((await client.get(_url(match), headers=volunteer.headers)).json()["items"]) == 1
    assert (
        await client.put(f"/v1/members/me/blocks/{volunteer.id}", headers=requester.headers)
    ).status_code == 204
    gone = await client.post(_url(match), json={"body": CRISIS}, headers=keyed)
    assert_problem(gone, 409)
    assert "Hello" not in gone.text
    assert CRISIS not in gone.text
