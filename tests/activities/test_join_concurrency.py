"""Capacity under real concurrency (Postgres): 50 joins at once on 5 places, then leaves at once."""

import asyncio

import httpx
import pytest

from tests.factories import activity, member

pytestmark = pytest.mark.postgres


async def test_fifty_joins_fill_five_places_and_leaves_promote_one_each(
    shared_client: httpx.AsyncClient,
) -> None:
    client = shared_client
    host = await member(client)
    a = await activity(client, host, capacity=5)
    people = [await member(client) for _ in range(50)]

    joins = await asyncio.gather(
        *(client.post(f"/v1/activities/{a['id']}/join", headers=p.headers) for p in people)
    )
    assert sorted(r.status_code for r in joins) == [201] * 50
    assert sorted(r.json()["status"] for r in joins).count("confirmed") == 5

    async def roster() -> list[dict[str, str]]:
        r = await client.get(f"/v1/activities/{a['id']}/participants?limit=100", headers=host.headers)
        items: list[dict[str, str]] = r.json()["items"]
        return items

    first = await roster()
    # Arrival order is the order the database took them in: the first five hold the places.
    assert [p["status"] for p in first] == ["confirmed"] * 5 + ["waitlisted"] * 45
    assert [p["joined_at"] for p in first] == sorted(p["joined_at"] for p in first)
    by_id = {p.id: p for p in people}

    # The five confirmed leave at once: each promotes exactly one, the earliest still waiting.
    leavers = [by_id[p["member_id"]] for p in first[:5]]
    leaves = await asyncio.gather(
        *(client.post(f"/v1/activities/{a['id']}/leave", headers=p.headers) for p in leavers)
    )
    assert [r.status_code for r in leaves] == [204] * 5
    after = await roster()
    assert [p["member_id"] for p in after] == [p["member_id"] for p in first[5:]]
    assert [p["status"] for p in after] == ["confirmed"] * 5 + ["waitlisted"] * 40
    counts = (await client.get(f"/v1/activities/{a['id']}")).json()
    assert (counts["confirmed_count"], counts["waitlisted_count"]) == (5, 40)

    # A capacity increase racing with joins and leaves still never overfills.
    late = [await member(client) for _ in range(5)]
    await asyncio.gather(
        client.patch(f"/v1/activities/{a['id']}", json={"capacity": 8}, headers=host.headers),
        *(client.post(f"/v1/activities/{a['id']}/join", headers=p.headers) for p in late),
        *(
            client.post(f"/v1/activities/{a['id']}/leave", headers=by_id[p["member_id"]].headers)
            for p in after[:3]
        ),
    )
    final = await roster()
    statuses = [p["status"] for p in final]
    assert statuses.count("confirmed") == 8
    assert statuses == sorted(statuses)  # every confirmed place arrived before every waiting one
