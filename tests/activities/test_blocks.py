"""Blocks hold for activities through the real rule (app.safety.blocks): a host and a member either
of whom blocked the other never meet on an activity, and the one blocked is never told."""

import httpx

from tests.factories import Member, activity, assert_problem, member


async def _block(client: httpx.AsyncClient, who: Member, whom: Member) -> None:
    r = await client.put(f"/v1/members/me/blocks/{whom.id}", headers=who.headers)
    assert r.status_code == 204, r.text


async def _listed(client: httpx.AsyncClient, who: Member) -> set[str]:
    r = await client.get("/v1/activities?limit=100", headers=who.headers)
    assert r.status_code == 200, r.text
    return {a["id"] for a in r.json()["items"]}


async def test_a_blocked_pair_cannot_see_or_join_each_other_s_activities(client: httpx.AsyncClient) -> None:
    host, blocker, bystander = await member(client), await member(client), await member(client)
    walk = await activity(client, host)
    await _block(client, blocker, host)  # the participant blocks the host: hidden both ways
    for who in (blocker,):
        assert_problem(await client.get(f"/v1/activities/{walk['id']}", headers=who.headers), 404)
        assert_problem(await client.post(f"/v1/activities/{walk['id']}/join", headers=who.headers), 404)
        assert walk["id"] not in await _listed(client, who)
    assert walk["id"] in await _listed(client, bystander)
    # The host's own activity stays the host's; a block the host makes works the same way.
    theirs = await activity(client, blocker)
    assert_problem(await client.get(f"/v1/activities/{theirs['id']}", headers=host.headers), 404)
    assert (await client.get(f"/v1/activities/{walk['id']}", headers=host.headers)).status_code == 200


async def test_a_block_gives_up_places_and_promotes_the_waitlist(client: httpx.AsyncClient) -> None:
    host, joiner, waiting = await member(client), await member(client), await member(client)
    walk = await activity(client, host, capacity=1)
    assert (await client.post(f"/v1/activities/{walk['id']}/join", headers=joiner.headers)).json()[
        "status"
    ] == ("confirmed")
    assert (await client.post(f"/v1/activities/{walk['id']}/join", headers=waiting.headers)).json()[
        "status"
    ] == ("waitlisted")
    await _block(client, host, joiner)
    roster = await client.get(f"/v1/activities/{walk['id']}/participants", headers=host.headers)
    assert [(p["member_id"], p["status"]) for p in roster.json()["items"]] == [(waiting.id, "confirmed")]
    # The one promoted is told; the one who lost the place is told nothing of the block.
    told = (await client.get("/v1/notifications", headers=waiting.headers)).json()["items"]
    assert [(n["type"], n["data"]) for n in told] == [
        ("activity.updated", {"activity_id": walk["id"], "change": "promoted"})
    ]
    assert (await client.get("/v1/notifications", headers=joiner.headers)).json()["items"] == []
