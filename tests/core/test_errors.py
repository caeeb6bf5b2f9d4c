"""Every error is problem+json, and nothing internal (traces, SQL) ever reaches a client."""

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import NEXT_YEAR, assert_problem, member, need_body


async def test_unknown_route_is_404_problem(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/v1/nowhere"), 404)
    assert body == {
        "type": "https://mutual-aid.example/problems/not-found",
        "title": "Not Found",
        "status": 404,
        "detail": "No such resource.",
        "instance": "/v1/nowhere",
    }


async def test_wrong_method_is_405_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.delete("/v1/needs"), 405)


async def test_malformed_json_is_422_problem(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/members", content=b"{not json", headers={"Content-Type": "application/json"})
    body = assert_problem(r, 422)
    assert body["errors"][0]["type"] == "json_invalid"


async def test_a_body_that_is_not_utf8_is_422_like_malformed_json(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/members", content=b"\xff\xfe{", headers={"Content-Type": "application/json"})
    body = assert_problem(r, 422)
    assert body["errors"] == [{"loc": ["body"], "msg": "JSON must be UTF-8 text.", "type": "json_invalid"}]


@pytest.mark.own_app  # adds a route
async def test_unexpected_failure_is_500_problem_without_internals(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    @application.get("/boom")
    async def boom() -> None:
        raise RuntimeError("SELECT secret FROM members -- internal detail")

    r = await client.get("/boom")
    body = assert_problem(r, 500)
    assert body["detail"] == "Something went wrong on our side; it has been logged."
    assert "SELECT" not in r.text
    assert "Traceback" not in r.text
    assert "RuntimeError" not in r.text


async def test_wrong_method_names_every_method_of_the_resource(client: httpx.AsyncClient) -> None:
    # GET, PATCH and DELETE (erasure) live on separate routes of one resource; Allow names all.
    r = await client.request("OPTIONS", "/v1/members/me")
    assert_problem(r, 405)
    assert r.headers["allow"] == "DELETE, GET, PATCH"
    r = await client.delete("/v1/needs")
    assert_problem(r, 405)
    assert r.headers["allow"] == "GET, POST"


async def test_rules_the_schema_cannot_state_are_typed_rule(client: httpx.AsyncClient) -> None:
    a = await member(client)
    backwards = need_body(
        window_start=f"{NEXT_YEAR}-01-02T10:00:00Z", window_end=f"{NEXT_YEAR}-01-02T09:00:00Z"
    )
    body = assert_problem(await client.post("/v1/needs", json=backwards, headers=a.headers), 422)
    backwards_error = {"loc": ["body"], "msg": "window_end must be after window_start", "type": "rule"}
    assert body["errors"] == [backwards_error]

    nul = {"email": "nul@example.org", "password": "long enough", "display_name": "A\u0000B"}
    body = assert_problem(await client.post("/v1/members", json=nul), 422)
    assert body["errors"] == [
        {"loc": ["body"], "msg": "text must not contain NUL (\\u0000) characters", "type": "rule"}
    ]

    body = assert_problem(await client.get("/v1/needs?radius_km=5"), 422)
    assert body["errors"] == [{"loc": ["query", "radius_km"], "msg": "radius_km needs near.", "type": "rule"}]


async def test_schema_violations_keep_their_own_type(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/v1/needs?limit=0"), 422)
    assert [(e["loc"], e["type"]) for e in body["errors"]] == [(["query", "limit"], "greater_than_equal")]
