"""Organisations: coordinators, roles and vetting, and API keys that are shown once and stored hashed."""

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlmodel import SQLModel

from tests.factories import PASSWORD, api_key, assert_problem, join, member, organization


async def test_creator_becomes_coordinator_and_the_organisation_is_public(client: httpx.AsyncClient) -> None:
    c = await member(client)
    body = {
        "name": "Riverside Food Bank",
        "description": "Parcels on Fridays",
        "service_area": {"lat": 51.5, "lon": -0.1, "radius_km": 4},
    }
    r = await client.post("/v1/organizations", json=body, headers=c.headers)
    assert r.status_code == 201
    org = r.json()
    assert set(org) == {
        "id",
        "name",
        "description",
        "service_area",
        "require_verified_email",
        "created_at",
        "updated_at",
    }
    assert org["require_verified_email"] is False
    assert org["service_area"] == {"lat": 51.5, "lon": -0.1, "radius_km": 4}
    assert (await client.get(f"/v1/organizations/{org['id']}")).json() == org
    assert [o["id"] for o in (await client.get("/v1/organizations")).json()["items"]] == [org["id"]]
    # The creator can now manage it.
    assert (await client.get(f"/v1/organizations/{org['id']}/api-keys", headers=c.headers)).json() == []


async def test_membership_upsert_vetting_and_last_coordinator(client: httpx.AsyncClient) -> None:
    c, v = await member(client), await member(client)
    org = (await organization(client, c))["id"]
    url = f"/v1/organizations/{org}/members/{v.id}"
    first = await client.put(url, json={"role": "volunteer"}, headers=c.headers)
    assert first.status_code == 201
    assert first.json()["vetted"] is False
    again = await client.put(url, json={"role": "volunteer", "vetted": True}, headers=c.headers)
    assert again.status_code == 200
    assert again.json()["vetted"] is True
    # Leaving out `vetted` keeps it as it was.
    promoted = await client.put(url, json={"role": "coordinator"}, headers=c.headers)
    assert promoted.json() == {
        **again.json(),
        "role": "coordinator",
        "updated_at": promoted.json()["updated_at"],
    }
    # The last coordinator cannot step down; with another one they can.
    solo = (await organization(client, v))["id"]
    assert_problem(
        await client.put(
            f"/v1/organizations/{solo}/members/{v.id}", json={"role": "volunteer"}, headers=v.headers
        ),
        409,
    )
    ok = await client.put(
        f"/v1/organizations/{org}/members/{c.id}", json={"role": "volunteer"}, headers=v.headers
    )
    assert ok.status_code == 200


async def test_membership_errors(client: httpx.AsyncClient) -> None:
    c = await member(client)
    org = (await organization(client, c))["id"]
    unknown = "00000000-0000-0000-0000-000000000000"
    assert_problem(
        await client.put(
            f"/v1/organizations/{org}/members/{unknown}", json={"role": "volunteer"}, headers=c.headers
        ),
        404,
    )
    assert_problem(
        await client.put(
            f"/v1/organizations/{unknown}/members/{c.id}", json={"role": "volunteer"}, headers=c.headers
        ),
        404,
    )
    for body in (
        {"role": "admin"},
        {"role": "volunteer", "organization_id": org},
        {"role": "volunteer", "member_id": c.id},
        {"vetted": True},
        {"role": "volunteer", "vetted": "yes"},
        {"role": "volunteer", "vetted": 1},
    ):
        assert_problem(
            await client.put(f"/v1/organizations/{org}/members/{c.id}", json=body, headers=c.headers), 422
        )


@pytest.mark.parametrize(
    "body",
    [
        {"name": "X", "id": "00000000-0000-0000-0000-000000000000"},
        {"name": "X", "created_at": "2020-01-01T00:00:00Z"},
        {"name": ""},
        {"name": "X", "service_area": {"lat": 0, "lon": 0, "radius_km": 0}},
        {"name": "X", "service_area": {"lat": 51.5, "lon": False, "radius_km": 5}},
        {"name": "X", "service_area": {"lat": 51.5, "lon": 0, "radius_km": "5"}},
    ],
)
async def test_organisation_create_rejects_what_callers_cannot_set(
    client: httpx.AsyncClient, body: dict
) -> None:
    c = await member(client)
    assert_problem(await client.post("/v1/organizations", json=body, headers=c.headers), 422)
    assert (await client.get("/v1/organizations")).json()["items"] == []


async def test_api_key_is_shown_once_listed_without_secret_and_revoked_at_once(
    client: httpx.AsyncClient,
) -> None:
    c = await member(client)
    org = (await organization(client, c))["id"]
    key = await api_key(client, c, org, ["needs:read", "needs:write"])
    assert key["key"].startswith("ma_")
    assert len(key["key"]) >= 40
    assert key["prefix"] == key["key"][:11]
    listed = (await client.get(f"/v1/organizations/{org}/api-keys", headers=c.headers)).json()
    assert key["key"] not in str(listed)
    assert set(listed[0]) == {
        "id",
        "name",
        "scopes",
        "prefix",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    }
    assert listed[0]["created_by"] == c.id
    assert listed[0]["last_used_at"] is None
    assert (await client.get("/v1/needs", headers=key["headers"])).status_code == 200
    used = (await client.get(f"/v1/organizations/{org}/api-keys", headers=c.headers)).json()[0]
    assert used["last_used_at"] is not None
    assert (
        await client.delete(f"/v1/organizations/{org}/api-keys/{key['id']}", headers=c.headers)
    ).status_code == 204
    body = assert_problem(await client.get("/v1/needs", headers=key["headers"]), 401)
    assert body["detail"] == "The API key is invalid or has been revoked."
    assert_problem(
        await client.delete(f"/v1/organizations/{org}/api-keys/{key['id']}", headers=c.headers), 404
    )


async def test_a_key_works_only_while_its_creator_coordinates_its_organisation(
    client: httpx.AsyncClient,
) -> None:
    """Rights end when a role ends: a key made by a coordinator who is demoted (or removed)
    stops from the next request, as their own token's rights do, and works again when they are
    a coordinator again; a key another coordinator made goes on working."""
    lead, maker = await member(client), await member(client)
    org = (await organization(client, lead))["id"]
    await join(client, lead, org, maker, role="coordinator")
    theirs = await api_key(client, maker, org, ["needs:read"])
    ours = await api_key(client, lead, org, ["needs:read"])
    assert (await client.get("/v1/needs", headers=theirs["headers"])).status_code == 200
    await join(client, lead, org, maker, role="volunteer")
    body = assert_problem(await client.get("/v1/needs", headers=theirs["headers"]), 401)
    assert body["detail"].startswith("The API key's creator is no longer a coordinator")
    assert (await client.get("/v1/needs", headers=ours["headers"])).status_code == 200
    await join(client, lead, org, maker, role="coordinator")
    assert (await client.get("/v1/needs", headers=theirs["headers"])).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"name": "K", "scopes": []},
        {"name": "K", "scopes": ["everything"]},
        {"name": "K", "scopes": ["needs:read"], "key": "ma_chosen"},
        {"name": "K", "scopes": ["needs:read"], "prefix": "ma_x"},
        {"name": "K", "scopes": ["needs:read"], "organization_id": "00000000-0000-0000-0000-000000000000"},
    ],
)
async def test_api_key_create_rejects_bad_or_forged_fields(client: httpx.AsyncClient, body: dict) -> None:
    c = await member(client)
    org = (await organization(client, c))["id"]
    assert_problem(await client.post(f"/v1/organizations/{org}/api-keys", json=body, headers=c.headers), 422)
    assert (await client.get(f"/v1/organizations/{org}/api-keys", headers=c.headers)).json() == []


async def test_no_secret_at_rest(client: httpx.AsyncClient, application: FastAPI) -> None:
    c = await member(client)
    org = (await organization(client, c))["id"]
    key = await api_key(client, c, org, ["needs:read"])
    dump: list[str] = []
    async with application.state.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            rows = (await conn.execute(text(f"SELECT * FROM {table.name}"))).all()
            dump.extend(str(value) for row in rows for value in row)
    everything = "\n".join(dump)
    assert key["key"] not in everything
    assert key["key"][11:] not in everything
    assert PASSWORD not in everything


async def test_a_volunteer_joins_before_offering_through_an_organisation(client: httpx.AsyncClient) -> None:
    c, v = await member(client), await member(client)
    org = (await organization(client, c))["id"]
    body = {
        "categories": ["meals"],
        "modes": ["remote"],
        "location": {"lat": 1, "lon": 1},
        "organization_id": org,
    }
    assert_problem(await client.post("/v1/offers", json=body, headers=v.headers), 422)
    await join(client, c, org, v)
    offer = (await client.post("/v1/offers", json=body, headers=v.headers)).json()
    seen = (await client.get(f"/v1/offers/{offer['id']}", headers=c.headers)).json()
    assert seen["view"] == "organization"
    assert "location" not in seen
    listed = (await client.get("/v1/offers", headers=c.headers)).json()["items"]
    assert [(o["id"], o["view"]) for o in listed] == [(offer["id"], "organization")]
