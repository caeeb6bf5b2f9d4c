"""Test fixtures: a fresh database per test, on SQLite by default or Postgres via TEST_DATABASE_URL.

SQLite runs in memory with the models' schema; Postgres is migrated once with Alembic and
truncated between tests. When TEST_DATABASE_URL names a Postgres that does not answer, the
run fails: a database pass that quietly skipped would prove nothing.
"""

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlmodel import SQLModel

import app.models  # noqa: F401  (every table in the metadata)
from app.core.config import Settings
from app.core.db import sync_url
from app.main import create_app
from app.migrate import upgrade_head

DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "sqlite+aiosqlite://")
IS_POSTGRES = DATABASE_URL.startswith("postgres")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Postgres-only tests belong to the Postgres pass; leave them out of the SQLite one."""
    if IS_POSTGRES:
        return
    keep = [i for i in items if i.get_closest_marker("postgres") is None]
    dropped = [i for i in items if i.get_closest_marker("postgres") is not None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def libpq_url(url: str) -> str:
    return sync_url(url).replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> None:
    """Real argon2, at the cheapest cost: the suite signs up hundreds of synthetic members."""
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    from app.core import security

    security._hasher = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    security._DUMMY_HASH = security._hasher.hash("not-a-real-password-just-for-timing")


@pytest.fixture(scope="session")
def database_url() -> str:
    if IS_POSTGRES:
        try:
            psycopg.connect(libpq_url(DATABASE_URL), connect_timeout=5).close()
        except psycopg.OperationalError as exc:
            pytest.exit(f"TEST_DATABASE_URL names a Postgres that does not answer: {exc}", returncode=3)
        upgrade_head(DATABASE_URL)
    return DATABASE_URL


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "environment": "test",
        "migrate_on_startup": False,
        "jwt_secret": "test-secret-that-is-long-enough-0123456789",
        "db_pool_size": 20,
        # Generous unless a test is about rate limits, so suites never trip over them.
        "rate_limit_member": "100000/minute",
        "rate_limit_key": "100000/minute",
        "rate_limit_anonymous": "100000/minute",
        "rate_limit_auth_failures": "100000/minute",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


async def fresh_app(database_url: str, **overrides: object) -> FastAPI:
    """An app on an empty database (Postgres truncated, SQLite created), with these settings."""
    application = create_app(make_settings(database_url, **overrides))
    async with application.state.engine.begin() as conn:
        if IS_POSTGRES:
            tables = ", ".join(t.name for t in SQLModel.metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {tables} CASCADE"))
        else:
            await conn.run_sync(SQLModel.metadata.create_all)
    return application


@pytest.fixture
async def application(database_url: str) -> AsyncIterator[FastAPI]:
    application = await fresh_app(database_url)
    yield application
    await application.state.engine.dispose()


@pytest.fixture
async def client(application: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.fixture
async def shared_client(
    application: FastAPI, database_url: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests really run at once, each on its own pooled connection to one
    database: the test database on Postgres; a file on SQLite, as in-memory SQLite is a single
    connection that every session shares. `application` has emptied the Postgres tables first."""
    url = database_url if IS_POSTGRES else f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    app = create_app(make_settings(url, db_pool_size=25))
    if not IS_POSTGRES:
        async with app.state.engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c
    await app.state.engine.dispose()
