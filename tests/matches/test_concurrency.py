"""The contract's MUST rules under concurrency, on Postgres: 50 simultaneous claims (on needs whose
approval is automatic, so each claim takes its slot at once), 20 times over, and 50 simultaneous
acceptances of claims waiting for the requester."""

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from tests.conftest import make_settings
from tests.factories import Member, member, need_body, offer_body, organization

HERE = {"lat": 51.5, "lon": -0.12}
pytestmark = pytest.mark.postgres


async def _wide_app(database_url: str) -> FastAPI:
    # A connection per request in flight: the database, not a pool queue, serialises them.
    return create_app(make_settings(database_url, db_pool_size=55))


async def _automatic(client: httpx.AsyncClient) -> tuple[Member, dict[str, Any]]:
    """A coordinator and the need fields that let claims through at once (organisations only)."""
    coordinator = await member(client)
    org = (await organization(client, coordinator))["id"]
    return coordinator, {"organization_id": org, "approval": "automatic"}


async def test_50_claims_on_a_need_with_two_slots(client: httpx.AsyncClient, database_url: str) -> None:
    volunteers = [await member(client) for _ in range(50)]
    offers = [
        (
            v,
            (
                await client.post(
                    "/v1/offers",
                    json=offer_body(location=HERE, availability=[], capacity=20),
                    headers=v.headers,
                )
            ).json()["id"],
        )
        for v in volunteers
    ]
    requester, automatic = await _automatic(client)
    app = await _wide_app(database_url)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as wide:
        for _ in range(20):
            need = (
                await client.post(
                    "/v1/needs",
                    json=need_body(location=HERE, volunteers_needed=2, **automatic),
                    headers=requester.headers,
                )
            ).json()
            claims = await asyncio.gather(
                *[
                    wide.post(
                        "/v1/matches", json={"need_id": need["id"], "offer_id": offer_id}, headers=v.headers
                    )
                    for v, offer_id in offers
                ]
            )
            codes = Counter(r.status_code for r in claims)
            assert codes == {201: 2, 409: 48}, codes
            assert all("deadlock" not in r.text.lower() for r in claims)
            after = (await client.get(f"/v1/needs/{need['id']}", headers=requester.headers)).json()
            assert (after["status"], after["volunteers_accepted"]) == ("matched", 2)
    await app.state.engine.dispose()


async def test_50_claims_by_an_offer_with_capacity_one(client: httpx.AsyncClient, database_url: str) -> None:
    requester, automatic = await _automatic(client)

    async def new_need() -> str:
        body = need_body(location=HERE, **automatic)
        return str((await client.post("/v1/needs", json=body, headers=requester.headers)).json()["id"])

    # Each round claims 50 open needs; the one taken is replaced, the 49 refused are claimed again
    # by the next round's offer (1,000 needs made one by one took most of this test's time).
    open_needs = [await new_need() for _ in range(50)]
    volunteer = await member(client)
    app = await _wide_app(database_url)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as wide:
        for _ in range(20):
            offer = (
                await client.post(
                    "/v1/offers",
                    json=offer_body(location=HERE, availability=[], capacity=1),
                    headers=volunteer.headers,
                )
            ).json()
            claims = await asyncio.gather(
                *[
                    wide.post(
                        "/v1/matches", json={"need_id": n, "offer_id": offer["id"]}, headers=volunteer.headers
                    )
                    for n in open_needs
                ]
            )
            codes = Counter(r.status_code for r in claims)
            assert codes == {201: 1, 409: 49}, codes
            # Refused for the offer's capacity, found by the rules or by the atomic take: nothing
            # about the needs reused from earlier rounds.
            refused = [r.json() for r in claims if r.status_code == 409]
            assert all(
                p.get("reason") == "offer_full" or "no free capacity" in p["detail"] for p in refused
            ), refused
            after = (await client.get(f"/v1/offers/{offer['id']}", headers=volunteer.headers)).json()
            assert after["active_matches"] == 1
            [taken] = [n for n, r in zip(open_needs, claims, strict=True) if r.status_code == 201]
            open_needs = [n for n in open_needs if n != taken] + [await new_need()]
    await app.state.engine.dispose()


async def test_50_acceptances_on_a_need_with_two_slots(client: httpx.AsyncClient, database_url: str) -> None:
    """Proposed claims hold no slot; accepting them all at once fills exactly the two slots."""
    requester = await member(client)
    volunteers = [await member(client) for _ in range(50)]
    offers = []
    for v in volunteers:
        # Room for every round's acceptance: only the need's slots limit them.
        body = offer_body(location=HERE, availability=[], capacity=20)
        r = await client.post("/v1/offers", json=body, headers=v.headers)
        offers.append((v, r.json()["id"]))
    app = await _wide_app(database_url)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as wide:
        for _ in range(5):
            body = need_body(location=HERE, volunteers_needed=2)
            need = (await client.post("/v1/needs", json=body, headers=requester.headers)).json()
            claims = await asyncio.gather(
                *[
                    wide.post("/v1/matches", json={"need_id": need["id"], "offer_id": o}, headers=v.headers)
                    for v, o in offers
                ]
            )
            assert Counter((r.status_code, r.json()["status"]) for r in claims) == {(201, "proposed"): 50}
            waiting = (await client.get(f"/v1/needs/{need['id']}", headers=requester.headers)).json()
            assert (waiting["status"], waiting["volunteers_accepted"]) == ("open", 0)
            accepts = await asyncio.gather(
                *[
                    wide.post(f"/v1/matches/{r.json()['id']}/accept", headers=requester.headers)
                    for r in claims
                ]
            )
            codes = Counter(r.status_code for r in accepts)
            assert codes == {200: 2, 409: 48}, codes
            assert all("deadlock" not in r.text.lower() for r in accepts)
            after = (await client.get(f"/v1/needs/{need['id']}", headers=requester.headers)).json()
            assert (after["status"], after["volunteers_accepted"]) == ("matched", 2)
    await app.state.engine.dispose()
