"""CI's Postgres pass (`--database-tests-only`) keeps every test that reaches the database."""

import sqlite3
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.pool import StaticPool
from sqlmodel import SQLModel

import tests.test_migrations
import tests.test_schemathesis
from tests import conftest


def _item(fixtures: list[str], module: ModuleType, postgres: bool = False) -> Any:
    marker = pytest.mark.postgres.mark if postgres else None
    return SimpleNamespace(
        fixturenames=fixtures,
        module=module,
        get_closest_marker=lambda name: marker if name == "postgres" else None,
    )


def test_a_test_is_kept_when_it_asks_for_the_database_or_reads_its_settings() -> None:
    pure = ModuleType("pure")
    assert conftest._reaches_the_database(_item(["client", "application", "database_url"], pure))
    assert conftest._reaches_the_database(_item([], pure, postgres=True))
    # These two read the database settings from conftest rather than through a fixture.
    assert conftest._reaches_the_database(_item([], tests.test_migrations))
    assert conftest._reaches_the_database(_item([], tests.test_schemathesis))


def test_a_test_that_never_reaches_the_database_runs_in_one_pass_only() -> None:
    pure = ModuleType("pure")
    assert not conftest._reaches_the_database(_item(["tmp_path"], pure))
    # A module's own flag of the same name is not the conftest's.
    pure.IS_POSTGRES = not conftest.IS_POSTGRES  # type: ignore[attr-defined]
    assert not conftest._reaches_the_database(_item([], pure))


def _schema(connection: sqlite3.Connection) -> list[tuple[str, ...]]:
    rows = connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
    return [(kind, name, table, " ".join((sql or "").split())) for kind, name, table, sql in rows]


def test_the_compiled_sqlite_schema_is_what_create_all_makes() -> None:
    """Each SQLite test's schema comes from one compiled script (tests/conftest.py): the same
    tables, columns, constraints and indexes as the models' `create_all`."""
    made = sqlite3.connect(":memory:")
    SQLModel.metadata.create_all(create_engine("sqlite://", creator=lambda: made, poolclass=StaticPool))
    scripted = sqlite3.connect(":memory:")
    scripted.executescript(conftest.sqlite_schema_script())
    expected = _schema(made)
    assert len([row for row in expected if row[0] == "table"]) == len(SQLModel.metadata.tables)
    assert _schema(scripted) == expected
