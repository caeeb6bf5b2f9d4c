"""Clients learn of Idempotency-Key from the schema, and browsers may read the replay header."""

import httpx
from fastapi import FastAPI

from app.main import create_app
from tests.conftest import make_settings


async def test_every_post_under_v1_documents_the_header(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    documented = {
        (method, path)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if "Idempotency-Key" in {p["name"] for p in operation.get("parameters", [])}
    }
    posts = {("post", p) for p, item in spec["paths"].items() if "post" in item and p.startswith("/v1/")}
    # A login's or a refresh's tokens are never kept at rest, so neither takes the header.
    assert documented == posts - {("post", "/v1/auth/token"), ("post", "/v1/auth/refresh")}
    # Every kind: creates, steps, webhook subscriptions, moderation, joining, account recovery.
    assert {
        ("post", "/v1/needs"),
        ("post", "/v1/matches/{match_id}/accept"),
        ("post", "/v1/organizations/{organization_id}/webhooks"),
        ("post", "/v1/reports/{report_id}/resolve"),
        ("post", "/v1/activities/{activity_id}/join"),
        ("post", "/v1/auth/password-reset"),
        ("post", "/v1/matches/{match_id}/messages"),
    } <= documented
    create = spec["paths"]["/v1/needs"]["post"]
    header = next(p for p in create["parameters"] if p["name"] == "Idempotency-Key")
    assert (header["in"], header["required"], header["schema"]["maxLength"]) == ("header", False, 255)
    assert "kept 24 hours" in header["description"]
    assert create["responses"]["201"]["headers"]["Idempotent-Replayed"]["schema"]["enum"] == ["true"]
    assert {"409", "422"} <= create["responses"].keys()
    keys = spec["paths"]["/v1/organizations/{organization_id}/api-keys"]["post"]["responses"]
    assert keys["409"]["description"].startswith("A request with this Idempotency-Key is still running")


async def test_cors_exposes_the_replay_header(database_url: str) -> None:
    app: FastAPI = create_app(make_settings(database_url, cors_origins="https://app.example.org"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        r = await c.get("/healthz", headers={"Origin": "https://app.example.org"})
    exposed = {h.strip() for h in r.headers["access-control-expose-headers"].split(",")}
    assert exposed == {"ETag", "Location", "Retry-After", "Idempotent-Replayed", "X-Request-ID"}
    await app.state.engine.dispose()
