"""Route matching skips the routers a path cannot be under (app/core/routing.py), and every
request still gets what FastAPI's own matching gives it."""

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi import routing as fastapi_routing
from fastapi.routing import APIRoute

from app.core import routing

SOME_ID = str(uuid.UUID(int=7))


def _fastapi_own_matching(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastapi_routing._IncludedRouter, "_match", routing._original_match)
    monkeypatch.setattr(fastapi_routing.APIRouter, "_get_routes_version", routing._original_version)
    monkeypatch.setattr(fastapi_routing.APIRouter, "_mark_routes_changed", routing._original_changed)


def _value(parameter: dict[str, Any]) -> str:
    schema = parameter.get("schema", {})
    if schema.get("format") == "uuid":
        return SOME_ID
    return "7" if schema.get("type") == "integer" else "x7"


def _requests(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path) for every operation of the OpenAPI document, its path filled in."""
    for template, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            path = template
            for p in operation.get("parameters", []):
                if p["in"] == "path":
                    path = path.replace("{" + p["name"] + "}", _value(p))
            yield method.upper(), path


async def _answers(client: httpx.AsyncClient, requests: list[tuple[str, str]]) -> list[tuple[int, str]]:
    answers = []
    for method, path in [*requests, ("GET", "/no/such/path"), ("DELETE", "/healthz"), ("GET", "/v1/needs/")]:
        r = await client.request(method, path)
        answers.append((r.status_code, "" if path == "/metrics" else r.text))  # counts move
    return answers


def test_the_check_is_installed() -> None:
    assert routing.installed()


async def test_every_operation_gets_what_fastapis_own_matching_gives_it(
    client: httpx.AsyncClient, application: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Anonymous requests: each is answered by the route it reaches (401, 404 of its own, 422)
    # or by the router (404 Not Found, 405, a redirect), and all of it must be the same.
    requests = list(_requests(application))
    assert len(requests) > 80
    with_check = await _answers(client, requests)
    _fastapi_own_matching(monkeypatch)
    assert await _answers(client, requests) == with_check


async def test_a_probe_tries_no_v1_route(client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    tried: list[str] = []
    matches = APIRoute.matches

    def counted(self: APIRoute, scope: Any) -> Any:
        tried.append(self.path)
        return matches(self, scope)

    monkeypatch.setattr(APIRoute, "matches", counted)
    # A probe that announces a body: a plain GET /healthz is answered before routing (app/ops/probes.py).
    routed = {"Content-Length": "0"}
    assert (await client.get("/healthz", headers=routed)).status_code == 200
    assert set(tried) == {"/healthz"}
    before = len(tried)
    _fastapi_own_matching(monkeypatch)
    assert (await client.get("/healthz", headers=routed)).status_code == 200
    assert len(tried) - before > 50  # FastAPI alone tries every /v1 route first


async def test_prefixes_with_parameters_methods_slashes_and_routes_added_later() -> None:
    inner = APIRouter(prefix="/items")

    @inner.get("/{item_id}")
    async def item(user_id: int, item_id: int) -> dict[str, int]:
        return {"user": user_id, "item": item_id}

    outer = APIRouter()
    outer.include_router(inner, prefix="/users/{user_id}")
    app = FastAPI()
    app.include_router(outer, prefix="/api")

    @app.get("/plain")
    async def plain() -> dict[str, str]:
        return {"ok": "yes"}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        assert (await c.get("/api/users/3/items/4")).json() == {"user": 3, "item": 4}
        assert (await c.post("/api/users/3/items/4")).status_code == 405
        assert (await c.get("/api/users/3/items/4/", follow_redirects=False)).status_code == 307
        assert (await c.get("/api/users/3/other")).status_code == 404
        assert (await c.get("/plain")).status_code == 200

        @inner.get("/{item_id}/parts")  # after the first requests: the skip lists are rebuilt
        async def parts(user_id: int, item_id: int) -> list[int]:
            return [user_id, item_id]

        @inner.get("/", include_in_schema=False)
        async def listing(user_id: int) -> list[int]:
            return [user_id]

        assert (await c.get("/api/users/3/items/4/parts")).json() == [3, 4]
        assert (await c.get("/api/users/5/items/")).json() == [5]


async def test_start_up_prepares_every_branch_so_the_first_request_does_not(database_url: str) -> None:
    from tests.conftest import fresh_app

    app = await fresh_app(database_url)
    branches = [r for r in app.router.routes if isinstance(r, fastapi_routing._IncludedRouter)]
    assert branches
    assert not any(routing._STARTS in b.__dict__ for b in branches)
    async with app.router.lifespan_context(app):
        assert all(routing._STARTS in b.__dict__ for b in branches)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            assert (await c.get(f"/v1/needs/{SOME_ID}")).status_code == 404
