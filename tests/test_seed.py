"""The demo seeder fills a fresh database through the API, and its data matches."""

from pathlib import Path

import httpx

from app.main import create_app
from app.seed import PASSWORD, seed
from tests.conftest import make_settings


async def test_seed_builds_a_neighbourhood_that_matches(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}", migrate_on_startup=True)
    summary = await seed(settings, volunteers=8, requesters=4, needs=12)
    assert summary["members"] == 13
    assert summary["needs"] == 12
    assert summary["proposed_matches"] >= 1
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        token = (
            await c.post("/v1/auth/token", data={"username": "coordinator@example.org", "password": PASSWORD})
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        listed = (
            await c.get(f"/v1/needs?organization_id={summary['organization_id']}&limit=100", headers=headers)
        ).json()["items"]
        assert len(listed) == 12
        proposals = (await c.get("/v1/matches?status=proposed&limit=100", headers=headers)).json()["items"]
        assert len(proposals) == summary["proposed_matches"]
