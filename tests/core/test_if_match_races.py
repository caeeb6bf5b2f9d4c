"""Twenty PATCHes sent at once with one ETag: exactly one 200, nineteen 412, no lost update.

`shared_client` gives each request its own pooled connection (Postgres, or a SQLite file), so
the versioned UPDATE is decided by the database, round after round.
"""

import asyncio
from collections import Counter

import httpx

from tests.factories import assert_problem, member, need_body, offer_body

ROUNDS = 5
AT_ONCE = 20


async def _race(client: httpx.AsyncClient, url: str, headers: dict[str, str], bodies: list[dict]) -> str:
    """Send every body at once under one If-Match; return the winner's title or note."""
    etag = (await client.get(url, headers=headers)).headers["etag"]
    responses = await asyncio.gather(
        *[client.patch(url, json=body, headers={**headers, "If-Match": etag}) for body in bodies]
    )
    assert Counter(r.status_code for r in responses) == {200: 1, 412: AT_ONCE - 1}, [
        r.text for r in responses
    ]
    for r in responses:
        if r.status_code == 412:
            assert assert_problem(r, 412)["type"].endswith("/precondition-failed")
    winner = next(r for r in responses if r.status_code == 200)
    assert winner.headers["etag"] == f'"{int(etag.strip(chr(34))) + 1}"'
    after = await client.get(url, headers=headers)
    assert after.headers["etag"] == winner.headers["etag"]
    # A need's edit also answers with crisis resources (app/safety), which no read carries.
    assert after.json() == {k: v for k, v in winner.json().items() if k != "resources"}
    return str(winner.json().get("title") or winner.json().get("note"))


async def test_concurrent_need_patches_with_one_etag(shared_client: httpx.AsyncClient) -> None:
    owner = await member(shared_client)
    need = (await shared_client.post("/v1/needs", json=need_body(), headers=owner.headers)).json()
    for round_ in range(ROUNDS):
        bodies = [{"title": f"Round {round_} writer {i}"} for i in range(AT_ONCE)]
        won = await _race(shared_client, f"/v1/needs/{need['id']}", owner.headers, bodies)
        assert won in {b["title"] for b in bodies}


async def test_concurrent_offer_patches_with_one_etag(shared_client: httpx.AsyncClient) -> None:
    volunteer = await member(shared_client)
    offer = (await shared_client.post("/v1/offers", json=offer_body(), headers=volunteer.headers)).json()
    for round_ in range(ROUNDS):
        bodies = [{"note": f"Round {round_} writer {i}"} for i in range(AT_ONCE)]
        won = await _race(shared_client, f"/v1/offers/{offer['id']}", volunteer.headers, bodies)
        assert won in {b["note"] for b in bodies}
