"""The demo seeder fills a fresh database through the API, its data matches, and running it again
changes nothing (or, with --reset, recreates the same demo), quietly."""

import functools
from pathlib import Path
from typing import Any

import httpx
import pytest

import app.seed
from app.core.config import Settings
from app.main import create_app
from app.seed import PASSWORD, seed
from tests.conftest import make_settings
from tests.factories import member, need_body

# A whole neighbourhood seeded through the API, three times: started early (tests/conftest.py).
pytestmark = pytest.mark.slow

SIZES: dict[str, Any] = {"volunteers": 8, "requesters": 4, "needs": 12}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}", migrate_on_startup=True)


async def test_seed_builds_a_neighbourhood_that_matches(settings: Settings) -> None:
    summary = await seed(settings, **SIZES)
    assert summary["created"] is True
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
        organizations = (await c.get("/v1/organizations?limit=100")).json()["items"]
        assert [o["name"] for o in organizations] == ["Riverside Mutual Aid"]


async def _outside_the_demo(settings: Settings) -> None:
    """A public need of someone outside the demo, and one of the demo's proposals cancelled: a
    run that finds the demo counts the demo's needs and its proposals, neither of these."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        outsider = await member(c)
        assert (await c.post("/v1/needs", json=need_body(), headers=outsider.headers)).status_code == 201
        login = {"username": "coordinator@example.org", "password": PASSWORD}
        token = await c.post("/v1/auth/token", data=login)
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        proposal = (await c.get("/v1/matches?status=proposed&limit=1", headers=headers)).json()["items"][0]
        cancelled = await c.post(f"/v1/matches/{proposal['id']}/cancel", headers=headers)
        assert cancelled.status_code == 200, cancelled.text


async def test_a_second_run_changes_nothing_and_reset_recreates_the_same_demo(settings: Settings) -> None:
    first = await seed(settings, **SIZES)
    await _outside_the_demo(settings)
    again = await seed(settings, **SIZES)
    assert again["created"] is False
    assert again == {**first, "created": False, "proposed_matches": first["proposed_matches"] - 1}
    recreated = await seed(settings, **SIZES, reset=True)
    assert recreated["created"] is True
    assert recreated["organization_id"] != first["organization_id"]
    assert {k: v for k, v in recreated.items() if k != "organization_id"} == {
        k: v for k, v in first.items() if k != "organization_id"
    }
    assert await seed(settings, **SIZES) == {**recreated, "created": False}


def test_the_command_says_what_it_did_in_two_lines(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(app.seed, "seed", functools.partial(seed, settings, **SIZES))
    app.seed.main()
    out, err = capfd.readouterr()
    assert out.startswith("Seeded 13 members, 12 needs and ")
    assert len(out.splitlines()) == 2
    assert err == ""
    app.seed.main()
    out, err = capfd.readouterr()
    assert out.startswith("The demo data is already there (13 members, 12 needs and ")
    assert "--reset" in out
    assert len(out.splitlines()) == 2
    assert err == ""
