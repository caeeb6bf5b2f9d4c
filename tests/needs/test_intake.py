"""Partner intake: needs filed by keys and coordinators, external_id dedupe, and the batch endpoint."""

import uuid

import httpx
from fastapi import FastAPI
from sqlmodel import col, select

from app.needs.models import Need
from tests.factories import ALL_SCOPES, api_key, assert_problem, member, need_body, organization


async def _partner(client: httpx.AsyncClient) -> tuple[str, dict]:
    c = await member(client)
    org = (await organization(client, c))["id"]
    return org, await api_key(client, c, org, ALL_SCOPES)


async def test_key_files_a_need_for_someone(client: httpx.AsyncClient) -> None:
    org, key = await _partner(client)
    r = await client.post(
        "/v1/needs", json=need_body(external_id="case-1", visibility="organization"), headers=key["headers"]
    )
    assert r.status_code == 201
    need = r.json()
    assert need["requester_id"] is None
    assert need["filed_by"] == {"kind": "api_key", "id": key["id"]}
    assert need["organization_id"] == org
    assert need["external_id"] == "case-1"
    assert need["contact"] == {"name": "Alex Example", "phone": "+44 20 7946 0123"}
    # Organisation-only: it does not exist for anyone outside.
    assert_problem(await client.get(f"/v1/needs/{need['id']}"), 404)
    assert (await client.get(f"/v1/needs/{need['id']}", headers=key["headers"])).json()["view"] == "owner"


async def test_duplicate_external_id_is_409_with_the_existing_id(client: httpx.AsyncClient) -> None:
    org, key = await _partner(client)
    first = (
        await client.post("/v1/needs", json=need_body(external_id="case-7"), headers=key["headers"])
    ).json()
    again = await client.post(
        "/v1/needs", json=need_body(external_id="case-7", title="Other"), headers=key["headers"]
    )
    body = assert_problem(again, 409)
    assert body["existing_id"] == first["id"]
    listed = (await client.get(f"/v1/needs?organization_id={org}", headers=key["headers"])).json()["items"]
    assert [n["id"] for n in listed] == [first["id"]]
    # Another organisation may use the same external id.
    _, other_key = await _partner(client)
    assert (
        await client.post("/v1/needs", json=need_body(external_id="case-7"), headers=other_key["headers"])
    ).status_code == 201


async def test_external_id_needs_an_organisation_and_a_key_cannot_name_another(
    client: httpx.AsyncClient,
) -> None:
    m = await member(client)
    assert_problem(await client.post("/v1/needs", json=need_body(external_id="x"), headers=m.headers), 422)
    other_org, _ = await _partner(client)
    _, key = await _partner(client)
    r = await client.post("/v1/needs", json=need_body(organization_id=other_org), headers=key["headers"])
    assert assert_problem(r, 422)["errors"][0]["loc"] == ["body", "organization_id"]
    r = await client.post("/v1/needs", json=need_body(organization_id=other_org), headers=m.headers)
    assert assert_problem(r, 422)["errors"][0]["loc"] == ["body", "organization_id"]


async def test_batch_of_500_with_duplicates_and_invalid_items(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    org, key = await _partner(client)
    for i in range(5):
        r = await client.post("/v1/needs", json=need_body(external_id=f"old-{i}"), headers=key["headers"])
        assert r.status_code == 201
    existing = {
        n["external_id"]: n["id"]
        for n in (
            await client.get(f"/v1/needs?organization_id={org}&limit=100", headers=key["headers"])
        ).json()["items"]
    }
    items: list = []
    expected: dict[int, tuple[int, str | None]] = {}
    for i in range(500):
        if i % 50 == 7:  # 10 invalid, of several kinds
            items.append(
                [
                    need_body(category="rockets"),
                    need_body(mode="in_person", location=None),
                    "not an object",
                    need_body(title=""),
                    need_body(volunteers_needed=0),
                ][i % 5]
            )
            expected[i] = (422, None)
        elif i % 100 == 13:  # 5 already filed before the batch
            items.append(need_body(external_id=f"old-{i // 100}"))
            expected[i] = (409, existing[f"old-{i // 100}"])
        elif i % 100 == 63:  # 5 repeating an earlier item of this batch
            items.append(need_body(external_id=f"new-{i - 60}"))
            expected[i] = (409, f"item-{i - 60}")
        else:
            items.append(need_body(external_id=f"new-{i}"))
            expected[i] = (201, None)
    r = await client.post("/v1/needs/batch", json={"items": items}, headers=key["headers"])
    assert r.status_code == 200
    results = r.json()["results"]
    assert [res["index"] for res in results] == list(range(500))
    created = {res["index"]: res["id"] for res in results if res["status"] == 201}
    assert len(created) == 480
    for i, (status, ref) in expected.items():
        res = results[i]
        assert res["status"] == status, (i, res)
        if status == 422:
            assert res["id"] is None
            assert res["error"]["status"] == 422
            assert res["error"]["errors"][0]["loc"][:3] == ["body", "items", i]
        if status == 409:
            want = created[int(ref.split("-")[1])] if ref and ref.startswith("item-") else ref
            assert res["id"] == want
            assert res["error"]["existing_id"] == want
    async with application.state.sessionmaker() as session:
        stmt = select(Need.id, Need.external_id).where(col(Need.organization_id) == uuid.UUID(org))
        rows = (await session.exec(stmt)).all()
    assert len(rows) == 485
    assert {str(i) for i, _ in rows} == set(created.values()) | set(existing.values())
    assert len({ext for _, ext in rows}) == 485


async def test_batch_bounds(client: httpx.AsyncClient) -> None:
    _, key = await _partner(client)
    assert_problem(await client.post("/v1/needs/batch", json={"items": []}, headers=key["headers"]), 422)
    too_many = {"items": [need_body()] * 501}
    assert_problem(await client.post("/v1/needs/batch", json=too_many, headers=key["headers"]), 422)
