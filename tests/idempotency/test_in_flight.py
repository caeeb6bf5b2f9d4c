"""A repeat that arrives while the first request with its key is still running."""

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from app.idempotency import service
from tests.factories import assert_problem, member, need_body
from tests.idempotency.helpers import age_claim, claim_by_hand, count_rows, encoded, key_rows, keyed

KEY = "in-flight-7f3c"
REPLAYED = "idempotent-replayed"


async def test_a_repeat_waits_for_the_first_and_replays_its_response(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    a = await member(client)
    # An offer's answer is replayed as stored (the volunteer's own), so the first one can be made up.
    body = encoded({"categories": ["meals"], "modes": ["remote"]})
    claim = await claim_by_hand(application, a, KEY, path="/v1/offers", body=body)
    repeat = asyncio.create_task(client.post("/v1/offers", content=body, headers=keyed(a, KEY)))
    await asyncio.sleep(0.3)
    assert not repeat.done()  # still waiting for the first request
    first_body = b'{"id":"from-the-first-request"}'
    async with application.state.sessionmaker() as session:
        stored = await service.complete(
            session,
            claim,
            status_code=201,
            headers=[("content-type", "application/json"), ("location", "/v1/offers/first")],
            body=first_body,
        )
    assert stored
    response = await repeat
    assert (response.status_code, response.content) == (201, first_body)
    assert (response.headers[REPLAYED], response.headers["location"]) == ("true", "/v1/offers/first")


@pytest.mark.own_app  # shortens its wait
async def test_a_repeat_that_waits_too_long_gets_409_with_retry_after(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    a = await member(client)
    body = encoded(need_body())
    await claim_by_hand(application, a, KEY, path="/v1/needs", body=body)
    application.state.settings.idempotency_wait_seconds = 0.2
    response = await client.post("/v1/needs", content=body, headers=keyed(a, KEY))
    problem = assert_problem(response, 409)
    assert problem["type"] == "https://mutual-aid.example/problems/idempotency-key-in-use"
    assert response.headers["retry-after"] == "1"
    assert await count_rows(application, "needs") == 0
    # Another request with the key in flight is refused at once, without waiting.
    other = await client.post("/v1/needs", content=encoded(need_body()), headers=keyed(a, KEY))
    assert_problem(other, 422)


async def test_a_claim_past_its_lease_is_taken_over(client: httpx.AsyncClient, application: FastAPI) -> None:
    a = await member(client)
    body = encoded(need_body())
    claim = await claim_by_hand(application, a, KEY, path="/v1/needs", body=body)
    dead = await age_claim(
        application, claim, seconds=application.state.settings.idempotency_lease_seconds + 1
    )
    response = await client.post("/v1/needs", content=body, headers=keyed(a, KEY))
    assert (response.status_code, REPLAYED in response.headers) == (201, False)
    assert [(r.id, r.status_code) for r in await key_rows(application)] == [(claim.row_id, 201)]
    # The dead request, should it ever finish, cannot overwrite what its successor stored.
    async with application.state.sessionmaker() as session:
        assert not await service.complete(session, dead, status_code=500, headers=[], body=b"late")
        await service.release(session, dead)
    again = await client.post("/v1/needs", content=body, headers=keyed(a, KEY))
    assert (again.content, again.headers[REPLAYED]) == (response.content, "true")
