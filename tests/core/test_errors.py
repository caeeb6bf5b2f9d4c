"""Every error is problem+json, and nothing internal (traces, SQL) ever reaches a client."""

import httpx
from fastapi import FastAPI

from tests.factories import assert_problem


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
    # GET and PATCH live on separate routes of one resource; Allow must name both.
    r = await client.request("OPTIONS", "/v1/members/me")
    assert_problem(r, 405)
    assert r.headers["allow"] == "GET, PATCH"
    r = await client.delete("/v1/needs")
    assert_problem(r, 405)
    assert r.headers["allow"] == "GET, POST"
