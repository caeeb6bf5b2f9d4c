"""A partner's bulk intake alerts nearby volunteers exactly as creating each need alone would:
one code path (app.needs.service.announce_created) for both."""

import httpx
from fastapi import FastAPI

from tests.conftest import app_for_test
from tests.factories import api_key, member, need_body, offer_body, organization
from tests.notifications.channels import HERE
from tests.notifications.test_alerts import alerted, opt_in

FAR = {"lat": 53.48, "lon": -2.24}  # Manchester: out of every London offer's reach


async def test_a_batch_alerts_like_single_creation(client: httpx.AsyncClient, application: FastAPI) -> None:
    coordinator, near, also_near, far = [await member(client) for _ in range(4)]
    org = (await organization(client, coordinator))["id"]
    key = await api_key(client, coordinator, org, ["needs:read", "needs:write"])
    for volunteer, where in ((near, HERE), (also_near, HERE), (far, FAR)):
        r = await client.post(
            "/v1/offers", json=offer_body(location=where, availability=[]), headers=volunteer.headers
        )
        assert r.status_code == 201, r.text
        await opt_in(client, volunteer)
    await opt_in(client, also_near, categories=["meals"])  # not groceries
    items = [
        need_body(location=HERE, organization_id=org, external_id="a"),
        need_body(location=HERE, organization_id=org, external_id="b", visibility="organization"),
        need_body(location=FAR, organization_id=org, external_id="c"),
        {"category": "nonsense"},
    ]
    r = await client.post("/v1/needs/batch", json={"items": items}, headers=key["headers"])
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == [201, 201, 201, 422]
    public_near, org_only, public_far = (x["id"] for x in results[:3])
    assert await alerted(client, near, public_near)
    assert not await alerted(client, near, org_only)  # only public needs alert
    assert not await alerted(client, near, public_far)
    assert await alerted(client, far, public_far)
    assert not await alerted(client, far, public_near)
    assert not any([await alerted(client, also_near, n) for n in (public_near, org_only, public_far)])


async def test_a_batch_keeps_to_the_daily_cap(database_url: str) -> None:
    async with app_for_test(database_url, alerts_per_day=2) as app:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            coordinator, volunteer = await member(client), await member(client)
            org = (await organization(client, coordinator))["id"]
            key = await api_key(client, coordinator, org, ["needs:read", "needs:write"])
            offer = offer_body(location=HERE, availability=[])
            assert (await client.post("/v1/offers", json=offer, headers=volunteer.headers)).status_code == 201
            await opt_in(client, volunteer)
            items = [need_body(location=HERE, organization_id=org) for _ in range(3)]
            r = await client.post("/v1/needs/batch", json={"items": items}, headers=key["headers"])
            assert [x["status"] for x in r.json()["results"]] == [201, 201, 201]
            inbox = (await client.get("/v1/notifications", headers=volunteer.headers)).json()["items"]
            assert [n["type"] for n in inbox] == ["need.nearby", "need.nearby"]
