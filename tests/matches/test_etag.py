"""Match ETags: from the match's version, on every read and step; If-Match guards a step."""

import asyncio
from collections import Counter

import httpx

from tests.factories import Member, assert_problem, member, need_body, offer_body

HERE = {"lat": 51.5, "lon": -0.12}


async def _proposal(client: httpx.AsyncClient) -> tuple[dict, Member, Member]:
    requester, volunteer = await member(client), await member(client)
    need = (await client.post("/v1/needs", json=need_body(location=HERE), headers=requester.headers)).json()
    offer = (
        await client.post(
            "/v1/offers", json=offer_body(location=HERE, availability=[]), headers=volunteer.headers
        )
    ).json()
    r = await client.post(
        "/v1/matches", json={"need_id": need["id"], "offer_id": offer["id"]}, headers=requester.headers
    )
    assert r.status_code == 201, r.text
    assert (r.headers["etag"], r.headers["location"]) == ('"1"', f"/v1/matches/{r.json()['id']}")
    return r.json(), requester, volunteer


async def test_every_read_and_step_carries_the_version(client: httpx.AsyncClient) -> None:
    match, requester, volunteer = await _proposal(client)
    url = f"/v1/matches/{match['id']}"
    for who in (requester, volunteer):
        assert (await client.get(url, headers=who.headers)).headers["etag"] == '"1"'
    accepted = await client.post(f"{url}/accept", headers=volunteer.headers)
    assert (accepted.status_code, accepted.headers["etag"]) == (200, '"2"')
    completed = await client.post(f"{url}/complete", headers=requester.headers)
    assert (completed.status_code, completed.headers["etag"]) == (200, '"3"')
    assert (await client.get(url, headers=volunteer.headers)).headers["etag"] == '"3"'


async def test_a_stale_if_match_is_412_and_changes_nothing(client: httpx.AsyncClient) -> None:
    match, requester, volunteer = await _proposal(client)
    url = f"/v1/matches/{match['id']}"
    seen = (await client.get(url, headers=volunteer.headers)).headers["etag"]
    accepted = await client.post(f"{url}/accept", headers={**volunteer.headers, "If-Match": seen})
    assert (accepted.status_code, accepted.headers["etag"]) == (200, '"2"')
    # The requester still holds the first ETag: cancelling what they have not seen accepted is refused.
    problem = assert_problem(
        await client.post(f"{url}/cancel", headers={**requester.headers, "If-Match": seen}), 412
    )
    assert problem["detail"] == "The match has changed since you read it; fetch it again."
    after = await client.get(url, headers=requester.headers)
    assert (after.json()["status"], after.headers["etag"]) == ("accepted", '"2"')
    cancelled = await client.post(f"{url}/cancel", headers={**requester.headers, "If-Match": '"2"'})
    assert (cancelled.json()["status"], cancelled.headers["etag"]) == ("cancelled", '"3"')


async def test_concurrent_steps_with_one_etag_let_exactly_one_through(
    shared_client: httpx.AsyncClient,
) -> None:
    match, requester, volunteer = await _proposal(shared_client)
    url = f"/v1/matches/{match['id']}"
    headers = {**volunteer.headers, "If-Match": '"1"'}
    steps = await asyncio.gather(
        *[shared_client.post(f"{url}/{'accept' if i % 2 else 'decline'}", headers=headers) for i in range(20)]
    )
    assert Counter(r.status_code for r in steps) == {200: 1, 412: 19}, [r.text for r in steps]
    winner = next(r for r in steps if r.status_code == 200)
    after = await shared_client.get(url, headers=requester.headers)
    assert (after.json()["status"], after.headers["etag"]) == (winner.json()["status"], '"2"')
