"""Pooled connections the server killed are replaced, and never surface as errors."""

import httpx
import psycopg
import pytest
from sqlalchemy import text

from app.core.deps import SessionDep
from app.main import create_app
from tests.conftest import DATABASE_URL, libpq_url, make_settings
from tests.factories import assert_problem, member, need_body

pytestmark = pytest.mark.postgres


def _kill_app_connections() -> int:
    """Terminate every other connection to the test database and wait (up to 5 s each) until
    each backend is gone, as a restart or an idle timeout leaves them: the server has told each
    client and closed its end by then."""
    with psycopg.connect(libpq_url(DATABASE_URL), autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0]) if row else 0


async def test_killed_pooled_connections_are_replaced_without_an_error(
    client: httpx.AsyncClient,
) -> None:
    asker = await member(client)
    first = await client.post("/v1/needs", json=need_body(), headers=asker.headers)
    assert first.status_code == 201
    assert _kill_app_connections() >= 1
    for _ in range(5):
        again = await client.post("/v1/needs", json=need_body(), headers=asker.headers)
        assert again.status_code == 201, again.text
    listed = await client.get("/v1/needs", params={"limit": 100}, headers=asker.headers)
    assert len(listed.json()["items"]) == 6


def _timeouts(scrape: str) -> float:
    series = 'mutual_aid_database_unavailable_total{reason="statement_timeout"} '
    return sum(float(line.removeprefix(series)) for line in scrape.splitlines() if line.startswith(series))


async def test_a_statement_that_runs_away_is_cancelled_with_a_503(database_url: str) -> None:
    app = create_app(make_settings(database_url, db_statement_timeout_ms=200))

    @app.get("/slow")
    async def slow(session: SessionDep) -> None:
        await session.exec(text("SELECT pg_sleep(5)"))  # type: ignore[call-overload]

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        before = (await c.get("/metrics")).text
        r = await c.get("/slow")
        assert_problem(r, 503)
        after = (await c.get("/metrics")).text
        assert _timeouts(after) - _timeouts(before) == 1
        assert r.headers["retry-after"] == "5"
        assert (await c.get("/readyz")).status_code == 200
    await app.state.engine.dispose()
