"""Probes, the OpenAPI document and the docs page a developer reads first."""

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from starlette.types import Receive, Scope, Send

from app.core.config import Settings
from app.core.encryption import new_key
from app.main import create_app
from tests.conftest import TEST_DATA_KEY, make_settings


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ok"}


async def test_readyz_is_503_problem_when_the_database_is_unreachable() -> None:
    app = create_app(make_settings("postgresql+psycopg://nobody@127.0.0.1:1/none"))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        r = await c.get("/readyz")
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["retry-after"] == "5"
    assert "nobody" not in r.text
    await app.state.engine.dispose()


async def test_docs_and_openapi_load(client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    spec = (await client.get("/openapi.json")).json()
    ops = {(m, p): op for p, item in spec["paths"].items() for m, op in item.items()}
    ids = [op["operationId"] for op in ops.values()]
    assert len(ids) == len(set(ids))
    assert ops[("post", "/v1/needs")]["operationId"] == "create_need"
    assert ops[("get", "/v1/needs/{need_id}")]["operationId"] == "get_need"
    assert all(op.get("tags") for op in ops.values())
    assert "422" in ops[("post", "/v1/needs")]["responses"]


async def test_swagger_authorize_offers_login_and_bearer(client: httpx.AsyncClient) -> None:
    schemes = (await client.get("/openapi.json")).json()["components"]["securitySchemes"]
    assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "/v1/auth/token"
    assert schemes["HTTPBearer"]["scheme"] == "bearer"


def test_production_refuses_the_default_or_a_short_secret() -> None:
    with pytest.raises(ValueError, match="JWT_SECRET must be set"):
        Settings(environment="production")
    with pytest.raises(ValueError, match="at least 32"):
        Settings(environment="production", jwt_secret="short")
    with pytest.raises(ValueError, match="DATA_ENCRYPTION_KEYS must be set"):
        Settings(environment="production", jwt_secret="x" * 32)
    keys = f"{TEST_DATA_KEY},{new_key()}"
    settings = Settings(environment="production", jwt_secret="x" * 32, data_encryption_keys=keys)
    assert len(settings.data_encryption_keys) == 2


async def test_cors_allows_configured_origins_with_credentials(database_url: str) -> None:
    app: FastAPI = create_app(
        make_settings(database_url, cors_origins="https://app.example.org, https://b.example")
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        headers = {"Origin": "https://app.example.org", "Access-Control-Request-Method": "POST"}
        ok = await c.options("/v1/needs", headers=headers)
        other = await c.options("/v1/needs", headers={**headers, "Origin": "https://evil.example"})
    assert ok.headers["access-control-allow-origin"] == "https://app.example.org"
    assert ok.headers["access-control-allow-credentials"] == "true"
    assert "access-control-allow-origin" not in other.headers
    await app.state.engine.dispose()


async def test_cors_wildcard_never_comes_with_credentials(database_url: str) -> None:
    app = create_app(make_settings(database_url, cors_origins="*"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        r = await c.get("/healthz", headers={"Origin": "https://anyone.example"})
    assert r.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in r.headers
    await app.state.engine.dispose()


@pytest.mark.own_app  # the quick path learns its route from the app's first probe
async def test_the_quick_healthz_answers_as_the_route_does(
    application: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain GET /healthz is answered before route matching (app/ops/probes.py), once the
    first has shown it the route; one that announces a body takes the route. Both answers are
    the same but for the request id, and both are counted under the route's template."""
    scrape = 'mutual_aid_http_requests_total{method="GET",route="/healthz",status="200"}'

    def counted(text: str) -> float:
        lines = [line for line in text.splitlines() if line.startswith(scrape)]
        return float(lines[0].rsplit(" ", 1)[1]) if lines else 0.0

    routed_paths: list[str] = []
    original = APIRouter.__call__

    async def routing(self: APIRouter, scope: Scope, receive: Receive, send: Send) -> None:
        routed_paths.append(scope["path"])
        await original(self, scope, receive, send)

    monkeypatch.setattr(APIRouter, "__call__", routing)
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        first = await c.get("/healthz")
        before = counted((await c.get("/metrics")).text)
        routed_paths.clear()
        quick = await c.get("/healthz", headers={"X-Request-ID": "quick"})
        routed = await c.get("/healthz", headers={"X-Request-ID": "routed", "Content-Length": "0"})
        assert routed_paths == ["/healthz"]  # the second only
        after = counted((await c.get("/metrics")).text)
        assert (await c.post("/healthz")).status_code == 405  # other methods: the route's answer
    assert (first.status_code, quick.status_code, quick.content) == (200, 200, b'{"status":"ok"}')
    assert (routed.status_code, routed.content) == (200, quick.content)
    assert {**quick.headers, "x-request-id": "routed"} == dict(routed.headers)
    assert quick.headers["x-request-id"] == "quick"
    assert after - before == 2
