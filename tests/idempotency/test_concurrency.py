"""Twenty simultaneous POSTs with one key: one runs, the rest wait for it and replay it.

`shared_client` gives each request its own pooled connection (Postgres, or a SQLite file), so
the claim is decided by the database's unique constraint, not by the order of coroutines.
"""

import asyncio
from collections import Counter

import httpx

from tests.factories import assert_problem, member, need_body, organization
from tests.idempotency.helpers import encoded, keyed

REPLAYED = "idempotent-replayed"
ROUNDS = 3


async def _owned_needs(client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    listed = await client.get("/v1/needs", params={"limit": 100}, headers=headers)
    return [n["id"] for n in listed.json()["items"] if n["view"] == "owner"]


async def test_20_identical_posts_create_one_need_and_answer_alike(shared_client: httpx.AsyncClient) -> None:
    a = await member(shared_client)
    created: list[str] = []
    for round_ in range(ROUNDS):
        body, key = encoded(need_body(title=f"Round {round_}")), f"same-key-{round_}"
        responses = await asyncio.gather(
            *[shared_client.post("/v1/needs", content=body, headers=keyed(a, key)) for _ in range(20)]
        )
        assert Counter(r.status_code for r in responses) == {201: 20}, [r.text for r in responses]
        assert len({r.content for r in responses}) == 1
        assert len({r.headers["location"] for r in responses}) == 1
        assert Counter(r.headers.get(REPLAYED) for r in responses) == {None: 1, "true": 19}
        created.append(responses[0].json()["id"])
        assert sorted(await _owned_needs(shared_client, a.headers)) == sorted(created)


async def test_20_posts_with_one_key_and_different_bodies_create_one(
    shared_client: httpx.AsyncClient,
) -> None:
    a = await member(shared_client)
    bodies = [encoded(need_body(title=f"Variant {i}")) for i in range(20)]
    responses = await asyncio.gather(
        *[shared_client.post("/v1/needs", content=b, headers=keyed(a, "one-key")) for b in bodies]
    )
    assert Counter(r.status_code for r in responses) == {201: 1, 422: 19}
    for r in responses:
        if r.status_code == 422:
            assert assert_problem(r, 422)["type"].endswith("/idempotency-key-reused")
    winner = next(r for r in responses if r.status_code == 201)
    assert await _owned_needs(shared_client, a.headers) == [winner.json()["id"]]


async def test_20_identical_api_key_creations_show_one_secret(shared_client: httpx.AsyncClient) -> None:
    c = await member(shared_client)
    org = (await organization(shared_client, c))["id"]
    url, body = f"/v1/organizations/{org}/api-keys", encoded({"name": "Intake", "scopes": ["needs:read"]})
    responses = await asyncio.gather(
        *[shared_client.post(url, content=body, headers=keyed(c, "key-creation")) for _ in range(20)]
    )
    assert Counter(r.status_code for r in responses) == {201: 20}
    assert len({r.json()["key"] for r in responses}) == 1
    listed = (await shared_client.get(url, headers=c.headers)).json()
    assert [k["id"] for k in listed] == [responses[0].json()["id"]]
