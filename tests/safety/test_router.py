"""Crisis resources over HTTP: only the author's write response carries them, and nothing keeps them."""

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlmodel import SQLModel

from app.safety import regions
from tests.conftest import fresh_app
from tests.factories import ALL_SCOPES, api_key, member, need_body, organization

LONDON = {"lat": 51.5074, "lon": -0.1278}
MADRID = {"lat": 40.4168, "lon": -3.7038}
MID_ATLANTIC = {"lat": 30.0, "lon": -40.0}
WORLD = {
    "name": "Find A Helpline (free, confidential helplines by country)",
    "phone": None,
    "url": "https://findahelpline.com/",
    "region": "WORLD",
}
GB_EMERGENCY = {"name": "Emergency services", "phone": "999", "url": None, "region": "GB"}
SAMARITANS = {
    "name": "Samaritans (24 hours, free)",
    "phone": "116 123",
    "url": "https://www.samaritans.org/",
    "region": "GB",
}
GB_ABUSE_LINE = {
    "name": "National Domestic Abuse Helpline, run by Refuge (24 hours, free)",
    "phone": "0808 2000 247",
    "url": "https://www.nationaldahelpline.org.uk/",
    "region": "GB",
}
CRISIS: dict[str, Any] = {"title": "Groceries this week", "description": "Honestly I want to kill myself."}


async def _post(client: httpx.AsyncClient, headers: dict[str, str], **fields: Any) -> httpx.Response:
    r = await client.post("/v1/needs", json=need_body(**fields), headers=headers)
    assert r.status_code == 201, r.text  # the write is never blocked
    return r


async def test_the_author_gets_their_countrys_lines_and_the_worldwide_directory(
    client: httpx.AsyncClient,
) -> None:
    a = await member(client)
    need = (await _post(client, a.headers, location=LONDON, **CRISIS)).json()
    assert need["resources"] == [GB_EMERGENCY, SAMARITANS, WORLD]
    assert need["title"] == CRISIS["title"]
    assert need["description"] == CRISIS["description"]


async def test_abuse_adds_the_abuse_line(client: httpx.AsyncClient) -> None:
    a = await member(client)
    need = (await _post(client, a.headers, location=LONDON, description="My partner hits me")).json()
    assert need["resources"] == [GB_EMERGENCY, SAMARITANS, GB_ABUSE_LINE, WORLD]


async def test_spanish_text_in_madrid_gets_spanish_lines(client: httpx.AsyncClient) -> None:
    a = await member(client)
    need = (await _post(client, a.headers, location=MADRID, title="Quiero suicidarme")).json()
    assert [(r["region"], r["phone"]) for r in need["resources"]] == [
        ("ES", "112"),
        ("ES", "024"),
        ("WORLD", None),
    ]


async def test_no_country_known_means_the_worldwide_directory_only(client: httpx.AsyncClient) -> None:
    a = await member(client)
    at_sea = (await _post(client, a.headers, location=MID_ATLANTIC, **CRISIS)).json()
    assert at_sea["resources"] == [WORLD]
    remote = (await _post(client, a.headers, mode="remote", location=None, languages=["es"], **CRISIS)).json()
    assert remote["resources"] == [WORLD]  # the shipped catalogue ties no country to a language


async def test_a_need_that_is_not_a_crisis_gets_an_empty_list(client: httpx.AsyncClient) -> None:
    a = await member(client)
    for title in (
        "Shopping for the week",
        "I'm dying to try the new bakery",
        "I am not suicidal, just hungry",
    ):
        assert (await _post(client, a.headers, title=title)).json()["resources"] == []


async def test_nobody_else_sees_resources_and_reads_never_carry_them(client: httpx.AsyncClient) -> None:
    a, b = await member(client), await member(client)
    need = (await _post(client, a.headers, location=LONDON, **CRISIS)).json()
    assert need["resources"]
    for headers in ({}, b.headers, a.headers):
        one = (await client.get(f"/v1/needs/{need['id']}", headers=headers)).json()
        assert "resources" not in one
        listed = (await client.get("/v1/needs", headers=headers)).json()["items"]
        assert [n["id"] for n in listed] == [need["id"]]
        assert "resources" not in listed[0]


async def test_an_edit_carries_resources_only_when_the_text_changes(client: httpx.AsyncClient) -> None:
    a = await member(client)
    need = (await _post(client, a.headers, location=LONDON)).json()
    url = f"/v1/needs/{need['id']}"
    r = await client.patch(url, json={"description": "I don't want to live anymore"}, headers=a.headers)
    assert r.status_code == 200
    assert r.json()["resources"] == [GB_EMERGENCY, SAMARITANS, WORLD]
    r = await client.patch(url, json={"urgency": "high"}, headers=a.headers)
    assert r.status_code == 200
    assert r.json()["resources"] == []
    r = await client.patch(url, json={"description": "Bread and milk"}, headers=a.headers)
    assert r.json()["resources"] == []
    cancelled = await client.post(f"{url}/cancel", headers=a.headers)
    assert "resources" not in cancelled.json()


async def test_a_broken_region_lookup_still_writes_and_answers(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(lat: float, lon: float) -> str | None:
        raise OSError("lookup table missing")

    monkeypatch.setattr(regions, "country_at", broken)
    a = await member(client)
    need = (await _post(client, a.headers, location=LONDON, **CRISIS)).json()
    assert need["resources"] == [WORLD]
    assert (await client.get(f"/v1/needs/{need['id']}", headers=a.headers)).status_code == 200


async def test_batch_items_carry_resources_for_the_partner(client: httpx.AsyncClient) -> None:
    c = await member(client)
    org = (await organization(client, c))["id"]
    key = await api_key(client, c, org, ALL_SCOPES)
    items = [need_body(location=LONDON, **CRISIS), need_body(), {"title": "missing fields"}]
    r = await client.post("/v1/needs/batch", json={"items": items}, headers=key["headers"])
    assert r.status_code == 200
    results = r.json()["results"]
    assert [(x["status"], x["resources"]) for x in results] == [
        (201, [GB_EMERGENCY, SAMARITANS, WORLD]),
        (201, []),
        (422, []),
    ]


async def test_nothing_about_a_crisis_is_stored_anywhere(
    application: FastAPI, client: httpx.AsyncClient
) -> None:
    a = await member(client)
    need = (await _post(client, a.headers, location=LONDON, **CRISIS)).json()
    patched = await client.patch(
        f"/v1/needs/{need['id']}", json={"title": "Please help, I want to die"}, headers=a.headers
    )
    assert patched.json()["resources"]
    assert not [
        column.name
        for table in SQLModel.metadata.sorted_tables
        for column in table.columns
        if any(word in column.name for word in ("resource", "crisis", "risk", "helpline"))
    ]
    dump: list[str] = []
    async with application.state.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            dump.extend(repr(tuple(row)) for row in await conn.execute(text(f"SELECT * FROM {table.name}")))
    stored = "\n".join(dump)
    assert "want to die" in stored  # the need itself was written, as sent
    for shown in ("116 123", "Samaritans", "findahelpline", "Emergency services", "suicide"):
        assert shown not in stored


@pytest.fixture
async def spanish_catalogue_client(database_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    path = tmp_path / "resources.json"
    path.write_text(
        json.dumps(
            {
                "regions": [
                    {"region": "WORLD", "resources": [{"name": "Directory", "url": "https://example.org/",
                                                        "source": "https://example.org/"}]},
                    {"region": "ES", "languages": ["es"], "resources": [
                        {"name": "Emergencias", "phone": "112", "source": "https://example.org/112"}]},
                ]
            }
        )
    )  # fmt: skip
    app = await fresh_app(database_url, crisis_resources_file=path)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c
    await app.state.engine.dispose()


async def test_a_deployment_catalogue_may_tie_a_language_to_a_country(
    spanish_catalogue_client: httpx.AsyncClient,
) -> None:
    client = spanish_catalogue_client
    a = await member(client, languages=["es"])
    body: dict[str, Any] = {"mode": "remote", "location": None, "title": "Quiero morirme", "languages": []}
    need = (await _post(client, a.headers, **body)).json()  # falls back to the member's languages
    assert need["resources"] == [
        {"name": "Emergencias", "phone": "112", "url": None, "region": "ES"},
        {"name": "Directory", "phone": None, "url": "https://example.org/", "region": "WORLD"},
    ]


async def test_the_api_description_says_this_is_not_medical_care(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "This service is not medical care or a crisis service." in spec["info"]["description"]
    written = spec["components"]["schemas"]["NeedWritten"]
    assert "Never stored" in written["properties"]["resources"]["description"]
    resource = spec["components"]["schemas"]["CrisisResource"]
    assert set(resource["properties"]) == {"name", "phone", "url", "region"}
    created = spec["paths"]["/v1/needs"]["post"]["responses"]["201"]["content"]["application/json"]
    assert created["schema"] == {"$ref": "#/components/schemas/NeedWritten"}
    read = spec["paths"]["/v1/needs/{need_id}"]["get"]["responses"]["200"]["content"]["application/json"]
    assert "NeedWritten" not in json.dumps(read)
