"""Alembic is the only way the schema changes: head builds it from nothing, with no drift."""

import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, inspect

from alembic import command
from app.core.db import sync_url
from app.migrate import alembic_config, upgrade_head
from tests.conftest import DATABASE_URL, libpq_url


def _upgrade_and_check(url: str) -> set[str]:
    upgrade_head(url)
    command.check(alembic_config(url))  # raises when the models and the migrations disagree
    engine = create_engine(sync_url(url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_sqlite_file_migrates_to_head_without_drift(tmp_path: Path) -> None:
    tables = _upgrade_and_check(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
    assert {"members", "needs", "offers", "alembic_version"} <= tables


@pytest.mark.postgres
def test_postgres_migrates_to_head_without_drift() -> None:
    name = f"migrate_{uuid.uuid4().hex[:12]}"
    admin = libpq_url(DATABASE_URL).rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = DATABASE_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        tables = _upgrade_and_check(url)
        assert {"members", "needs", "offers", "alembic_version"} <= tables
        with psycopg.connect(libpq_url(url)) as conn:
            indexes = {
                r[0]
                for r in conn.execute(
                    "SELECT indexname FROM pg_indexes WHERE tablename IN ('needs','offers')"
                )
            }
        assert {"ix_needs_approx_geog", "ix_offers_approx_geog"} <= indexes
        command.downgrade(alembic_config(url), "base")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
