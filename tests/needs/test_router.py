"""Needs over HTTP: create, the three views, update with If-Match, cancel, and their errors."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from app.geo import coarse_point
from tests.factories import NEXT_YEAR, assert_problem, member, need_body

PUBLIC_KEYS = {
    "id",
    "category",
    "title",
    "description",
    "urgency",
    "mode",
    "approx_location",
    "volunteers_needed",
    "max_distance_km",
    "window_start",
    "window_end",
    "timezone",
    "recurrence",
    "next_occurrence_start",
    "languages",
    "requirements",
    "visibility",
    # Public: a volunteer may know before claiming whether the need's side will review the claim.
    "approval",
    "organization_id",
    "status",
    "created_at",
    "distance_km",
    "view",
}
OWNER_KEYS = PUBLIC_KEYS | {
    "updated_at",
    "location",
    "address",
    "contact",
    "requester_id",
    "filed_by",
    "external_id",
    "volunteers_accepted",
}
# A create or an edit answers its author with the owner view plus crisis resources (app/safety).
WRITTEN_KEYS = OWNER_KEYS | {"resources"}


async def test_create_returns_owner_view_with_etag_and_location(client: httpx.AsyncClient) -> None:
    a = await member(client)
    body = need_body(location={"lat": 51.501, "lon": -0.142}, languages=["en"], requirements=["car"])
    r = await client.post("/v1/needs", json=body, headers=a.headers)
    assert r.status_code == 201
    need = r.json()
    assert set(need) == WRITTEN_KEYS
    assert need.pop("resources") == []
    assert need["view"] == "owner"
    assert need["location"] == {"lat": 51.501, "lon": -0.142}
    assert need["contact"] == {"name": "Alex Example", "phone": "+44 20 7946 0123"}
    assert need["requester_id"] == a.id
    assert need["filed_by"] is None  # their own need
    assert need["status"] == "open"
    assert need["urgency"] == "normal"
    assert need["approval"] == "requester"
    assert need["volunteers_needed"] == 1
    lat, lon = coarse_point(51.501, -0.142)
    assert need["approx_location"] == {"lat": lat, "lon": lon}
    assert r.headers["etag"] == '"1"'
    assert r.headers["location"] == f"/v1/needs/{need['id']}"


async def test_public_view_for_anonymous_and_other_members(client: httpx.AsyncClient) -> None:
    a, b = await member(client), await member(client)
    need = (await client.post("/v1/needs", json=need_body(), headers=a.headers)).json()
    assert need.pop("resources") == []
    for headers in ({}, b.headers):
        r = await client.get(f"/v1/needs/{need['id']}", headers=headers)
        assert r.status_code == 200
        assert set(r.json()) == PUBLIC_KEYS
        assert r.json()["view"] == "public"
        assert r.json()["approx_location"] == need["approx_location"]
    owner = await client.get(f"/v1/needs/{need['id']}", headers=a.headers)
    assert owner.json() == need


async def test_a_whole_number_written_as_a_float_is_an_integer(client: httpx.AsyncClient) -> None:
    # JSON Schema's integer includes 2.0; some JSON encoders write every number that way.
    a = await member(client)
    r = await client.post("/v1/needs", json=need_body(volunteers_needed=2.0), headers=a.headers)
    assert r.status_code == 201, r.text
    assert r.json()["volunteers_needed"] == 2
    r = await client.patch(f"/v1/needs/{r.json()['id']}", json={"volunteers_needed": 3.0}, headers=a.headers)
    assert (r.status_code, r.json()["volunteers_needed"]) == (200, 3)


async def test_text_limits_count_what_was_sent_and_blank_text_breaks_a_rule(
    client: httpx.AsyncClient,
) -> None:
    a = await member(client)
    too_long = need_body(title="T" * 200 + " ")  # 201 characters sent, 200 once trimmed
    problem = assert_problem(await client.post("/v1/needs", json=too_long, headers=a.headers), 422)
    assert [(e["loc"], e["type"]) for e in problem["errors"]] == [(["body", "title"], "string_too_long")]
    blank = need_body(title=" \t ")
    problem = assert_problem(await client.post("/v1/needs", json=blank, headers=a.headers), 422)
    assert problem["errors"] == [
        {
            "loc": ["body", "title"],
            "msg": "must contain a visible character (not only spaces or invisible characters)",
            "type": "rule",
        }
    ]
    trimmed = await client.post("/v1/needs", json=need_body(title=" Milk "), headers=a.headers)
    assert (trimmed.status_code, trimmed.json()["title"]) == (201, "Milk")


async def test_remote_need_needs_no_location(client: httpx.AsyncClient) -> None:
    a = await member(client)
    body = {"category": "companionship", "title": "Weekly check-in call", "mode": "remote"}
    r = await client.post("/v1/needs", json=body, headers=a.headers)
    assert r.status_code == 201
    assert r.json()["location"] is None
    assert r.json()["approx_location"] is None


@pytest.mark.parametrize(
    ("patch", "loc"),
    [
        ({"location": None}, ["body"]),
        ({"category": "rocket_science"}, ["body", "category"]),
        ({"volunteers_needed": 0}, ["body", "volunteers_needed"]),
        ({"location": {"lat": 91, "lon": 0}}, ["body", "location", "lat"]),
        # JSON numbers only: a string or a boolean is not one, whatever it spells.
        ({"location": {"lat": "51.5", "lon": 0}}, ["body", "location", "lat"]),
        ({"volunteers_needed": True}, ["body", "volunteers_needed"]),
        ({"volunteers_needed": 2.5}, ["body", "volunteers_needed"]),
        ({"max_distance_km": "5"}, ["body", "max_distance_km"]),
        ({"contact": {"name": "X", "phone": "call me"}}, ["body", "contact", "phone"]),
        (
            {"window_start": f"{NEXT_YEAR}-01-02T10:00:00Z", "window_end": f"{NEXT_YEAR}-01-01T10:00:00Z"},
            ["body"],
        ),
        ({"window_end": "2030-01-01T10:00:00"}, ["body", "window_end"]),
        ({"window_end": "2001-01-01T10:00:00Z"}, ["body", "window_end"]),
        ({"visibility": "organization"}, ["body"]),
        ({"status": "fulfilled"}, ["body", "status"]),
        ({"requester_id": "00000000-0000-0000-0000-000000000000"}, ["body", "requester_id"]),
        ({"organization_id": "00000000-0000-0000-0000-000000000000"}, ["body", "organization_id"]),
        ({"requirements": ["jetpack"]}, ["body", "requirements", 0]),
    ],
)
async def test_invalid_create_is_422_and_creates_nothing(
    client: httpx.AsyncClient, patch: dict, loc: list
) -> None:
    a = await member(client)
    r = await client.post("/v1/needs", json=need_body(**patch), headers=a.headers)
    body = assert_problem(r, 422)
    assert any(e["loc"][: len(loc)] == loc for e in body["errors"]), body
    listed = await client.get("/v1/needs", headers=a.headers)
    assert listed.json() == {"items": [], "next_cursor": None}


async def test_create_needs_a_member(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post("/v1/needs", json=need_body()), 401)


async def test_unknown_need_is_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/needs/00000000-0000-0000-0000-000000000000")
    assert assert_problem(r, 404)["detail"] == "No such need."
    # A path that names no need is an unknown resource, like any other.
    assert assert_problem(await client.get("/v1/needs/not-a-uuid"), 404)["detail"] == "No such resource."


async def test_batch_is_its_own_resource_not_a_need_id(client: httpx.AsyncClient) -> None:
    a = await member(client)
    for method in ("GET", "PATCH"):
        r = await client.request(method, "/v1/needs/batch", json={}, headers=a.headers)
        assert_problem(r, 405)
        assert r.headers["allow"] == "POST"


async def test_patch_by_owner_with_if_match(client: httpx.AsyncClient) -> None:
    a = await member(client)
    created = await client.post("/v1/needs", json=need_body(), headers=a.headers)
    url = f"/v1/needs/{created.json()['id']}"
    r = await client.patch(
        url,
        json={"title": "Shopping and a chat", "urgency": "high"},
        headers={**a.headers, "If-Match": created.headers["etag"]},
    )
    assert r.status_code == 200
    assert r.json()["title"] == "Shopping and a chat"
    assert r.json()["urgency"] == "high"
    assert r.json()["address"] == created.json()["address"]
    assert r.headers["etag"] == '"2"'
    stale = await client.patch(
        url, json={"title": "Lost update"}, headers={**a.headers, "If-Match": created.headers["etag"]}
    )
    assert_problem(stale, 412)
    assert (await client.get(url, headers=a.headers)).json()["title"] == "Shopping and a chat"


async def test_patch_moves_the_approx_location_with_the_need(client: httpx.AsyncClient) -> None:
    a = await member(client)
    need = (await client.post("/v1/needs", json=need_body(), headers=a.headers)).json()
    r = await client.patch(
        f"/v1/needs/{need['id']}", json={"location": {"lat": 40.7128, "lon": -74.006}}, headers=a.headers
    )
    lat, lon = coarse_point(40.7128, -74.006)
    assert r.json()["approx_location"] == {"lat": lat, "lon": lon}
    # A remote need may drop its location; an in-person one may not.
    bad = await client.patch(f"/v1/needs/{need['id']}", json={"location": None}, headers=a.headers)
    assert_problem(bad, 422)
    ok = await client.patch(
        f"/v1/needs/{need['id']}", json={"mode": "remote", "location": None}, headers=a.headers
    )
    assert ok.json()["approx_location"] is None


async def test_patch_by_another_member_is_403_and_anonymous_401(client: httpx.AsyncClient) -> None:
    a, b = await member(client), await member(client)
    need = (await client.post("/v1/needs", json=need_body(), headers=a.headers)).json()
    assert_problem(
        await client.patch(f"/v1/needs/{need['id']}", json={"title": "Mine now"}, headers=b.headers), 403
    )
    assert_problem(await client.patch(f"/v1/needs/{need['id']}", json={"title": "Mine now"}), 401)
    assert_problem(await client.post(f"/v1/needs/{need['id']}/cancel", headers=b.headers), 403)
    assert (await client.get(f"/v1/needs/{need['id']}")).json()["title"] == need["title"]


async def test_patch_rejects_fields_the_owner_cannot_set(client: httpx.AsyncClient) -> None:
    a = await member(client)
    need = (await client.post("/v1/needs", json=need_body(), headers=a.headers)).json()
    for body in (
        {"status": "fulfilled"},
        {"requester_id": a.id},
        {"id": a.id},
        {"created_at": "2020-01-01T00:00:00Z"},
        {"external_id": "x"},
        {"title": None},
        {"volunteers_accepted": 3},
    ):
        assert_problem(await client.patch(f"/v1/needs/{need['id']}", json=body, headers=a.headers), 422)
    after = (await client.get(f"/v1/needs/{need['id']}", headers=a.headers)).json()
    assert after == {k: v for k, v in need.items() if k != "resources"}


async def test_bad_if_match_is_412(client: httpx.AsyncClient) -> None:
    a = await member(client)
    need = (await client.post("/v1/needs", json=need_body(), headers=a.headers)).json()
    r = await client.patch(
        f"/v1/needs/{need['id']}", json={"title": "T"}, headers={**a.headers, "If-Match": "*x"}
    )
    assert_problem(r, 412)


async def test_cancel_then_cancel_again_is_409(client: httpx.AsyncClient) -> None:
    a = await member(client)
    need = (await client.post("/v1/needs", json=need_body(), headers=a.headers)).json()
    r = await client.post(f"/v1/needs/{need['id']}/cancel", headers=a.headers)
    assert r.status_code == 200
    assert r.json()["status"] == "cancelled"
    again = await client.post(f"/v1/needs/{need['id']}/cancel", headers=a.headers)
    assert assert_problem(again, 409)["detail"] == "A cancelled need cannot be cancelled."
    edit = await client.patch(f"/v1/needs/{need['id']}", json={"title": "Too late"}, headers=a.headers)
    assert_problem(edit, 409)


async def test_open_need_past_its_window_reads_as_expired(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    from sqlalchemy import update

    from app.needs.models import Need

    a = await member(client)
    end = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    need = (await client.post("/v1/needs", json=need_body(window_end=end), headers=a.headers)).json()
    async with application.state.sessionmaker() as session:
        await session.exec(update(Need).values(window_end=datetime.now(UTC) - timedelta(minutes=1)))
        await session.commit()
    assert (await client.get(f"/v1/needs/{need['id']}")).json()["status"] == "expired"
    assert [n["id"] for n in (await client.get("/v1/needs?status=expired")).json()["items"]] == [need["id"]]
    assert (await client.get("/v1/needs?status=open")).json()["items"] == []
    assert_problem(await client.post(f"/v1/needs/{need['id']}/cancel", headers=a.headers), 409)


async def test_list_filters(client: httpx.AsyncClient) -> None:
    a = await member(client)
    made = {}
    for category, urgency, mode in [
        ("groceries", "low", "in_person"),
        ("transport", "urgent", "in_person"),
        ("companionship", "normal", "remote"),
    ]:
        body = need_body(category=category, urgency=urgency, mode=mode)
        made[category] = (await client.post("/v1/needs", json=body, headers=a.headers)).json()["id"]

    async def ids(query: str) -> set[str]:
        r = await client.get(f"/v1/needs?{query}")
        assert r.status_code == 200
        return {n["id"] for n in r.json()["items"]}

    assert await ids("category=transport") == {made["transport"]}
    assert await ids("urgency=urgent") == {made["transport"]}
    assert await ids("mode=remote") == {made["companionship"]}
    assert await ids("status=open") == set(made.values())
    assert await ids("category=groceries&mode=remote") == set()
    assert await ids("organization_id=00000000-0000-0000-0000-000000000000") == set()
    assert_problem(await client.get("/v1/needs?category=rockets"), 422)
    for malformed in ("51.5", " 51.5,0", "051,0", "nan,0", "inf,0", "51.5,0,1", "\u0665\u0661,0"):
        body = assert_problem(await client.get("/v1/needs", params={"near": malformed}), 422)
        assert [(e["loc"], e["type"]) for e in body["errors"]] == [
            (["query", "near"], "string_pattern_mismatch")
        ]
    assert (await client.get("/v1/needs", params={"near": "5.15e1,-1.2E-1"})).status_code == 200
    body = assert_problem(await client.get("/v1/needs?near=91,0"), 422)
    assert [(e["loc"], e["type"]) for e in body["errors"]] == [(["query", "near"], "rule")]
    assert_problem(await client.get("/v1/needs?radius_km=3"), 422)
    assert_problem(await client.get("/v1/needs?near=51.5,0&radius_km=0"), 422)
    assert_problem(await client.get("/v1/needs?near=51.5,0&radius_km=501"), 422)


async def test_times_come_back_in_utc(client: httpx.AsyncClient) -> None:
    a = await member(client)
    body = need_body(
        window_start=f"{NEXT_YEAR}-01-01T10:00:00+05:00", window_end=f"{NEXT_YEAR}-01-01T12:30:00-02:00"
    )
    created = (await client.post("/v1/needs", json=body, headers=a.headers)).json()
    assert created["window_start"] == f"{NEXT_YEAR}-01-01T05:00:00Z"
    assert created["window_end"] == f"{NEXT_YEAR}-01-01T14:30:00Z"
    read = (await client.get(f"/v1/needs/{created['id']}", headers=a.headers)).json()
    assert read["window_start"] == created["window_start"]


@pytest.mark.parametrize(
    "body",
    [
        {"title": "Shopping\x00"},
        {"address": "1 Example Road\x00"},
        {"contact": {"name": "A\x00", "phone": "+44 20 7946 0123"}},
        {"location": {"lat": 51.5, "lon": -0.1, "alt": 30}},
    ],
)
async def test_nul_characters_and_unknown_nested_fields_are_422(
    client: httpx.AsyncClient, body: dict
) -> None:
    a = await member(client)
    assert_problem(await client.post("/v1/needs", json=need_body(**body), headers=a.headers), 422)
    assert (await client.get("/v1/needs", headers=a.headers)).json()["items"] == []


async def test_if_match_star_and_lists(client: httpx.AsyncClient) -> None:
    a = await member(client)
    created = await client.post("/v1/needs", json=need_body(), headers=a.headers)
    url = f"/v1/needs/{created.json()['id']}"
    r = await client.patch(url, json={"title": "One"}, headers={**a.headers, "If-Match": "*"})
    assert r.headers["etag"] == '"2"'
    r = await client.patch(url, json={"title": "Two"}, headers={**a.headers, "If-Match": '"7", "2"'})
    assert r.headers["etag"] == '"3"'
    weak = await client.patch(url, json={"title": "Three"}, headers={**a.headers, "If-Match": 'W/"3"'})
    assert_problem(weak, 412)


async def test_etag_only_for_those_who_may_change_the_need(client: httpx.AsyncClient) -> None:
    a = await member(client)
    need = (await client.post("/v1/needs", json=need_body(), headers=a.headers)).json()
    assert "etag" not in (await client.get(f"/v1/needs/{need['id']}")).headers
    assert (await client.get(f"/v1/needs/{need['id']}", headers=a.headers)).headers["etag"] == '"1"'
