"""Plain reads outside a transaction until the first write (app.core.reads): which statements
count as plain reads, and on Postgres that a read sends no BEGIN while anything else, locks and
notifications included, still runs in the request's transaction."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from psycopg.pq import TransactionStatus
from sqlalchemy import column, func, insert, literal_column, table, text, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.db import make_engine, make_sessionmaker
from app.core.reads import is_plain_read
from app.needs.models import Need
from app.needs.service import _NEED_READ
from app.organizations.models import Organization
from tests.conftest import libpq_url, make_settings

_NEEDS = select(Need).where(col(Need.id) == uuid.uuid4())


@pytest.mark.parametrize(
    "statement",
    [
        _NEEDS,
        _NEED_READ,  # the public read of a need, its requester's suspension an EXISTS (SELECT *)
        sa.select(func.count()).select_from(Need),
        sa.select(func.max(Need.created_at), func.coalesce(func.min(Need.volunteers_needed), 0)),
        sa.select(col(Need.id)).where(col(Need.volunteers_needed).op("&")(literal_column("4")) != 0),
    ],
    ids=["select", "need read", "count", "aggregates", "bits"],
)
def test_selects_of_columns_and_pure_functions_are_plain_reads(statement: object) -> None:
    assert is_plain_read(statement)


_inserted = insert(Organization).values(name="Plain Read Group").returning(col(Organization.id)).cte("made")


@pytest.mark.parametrize(
    "statement",
    [
        _NEEDS.with_for_update(),
        _NEEDS.with_for_update(read=True),
        sa.select(column("id")).select_from(_NEEDS.with_for_update().subquery()),
        sa.select(func.pg_advisory_xact_lock(42)),
        sa.select(func.pg_notify("channel", "payload")),
        sa.select(literal_column("nextval('some_sequence')")),
        _NEEDS.suffix_with("FOR UPDATE"),
        _NEEDS.prefix_with("/* anything */"),
        sa.select(func.elsewhere.lower("x")),
        sa.select(col(Need.id)).where(col(Need.volunteers_needed).op("OPERATOR(elsewhere.+)")(1) > 0),
        sa.select(_inserted.c.id),
        text("SELECT 1"),
        update(Organization).values(name="x"),
        insert(Organization).values(name="x"),
    ],
    ids=[
        "for update",
        "for share",
        "locking subquery",
        "advisory lock",
        "notify",
        "literal SQL",
        "suffix",
        "prefix",
        "function of a schema",
        "operator as written",
        "insert in a CTE",
        "text",
        "update",
        "insert",
    ],
)
def test_locks_side_effects_text_and_writes_are_not(statement: object) -> None:
    assert not is_plain_read(statement)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(make_settings(database_url))
    yield engine
    await engine.dispose()


async def _status(session: AsyncSession) -> TransactionStatus:
    """Where the session's connection stands, as the driver knows it: IDLE is no transaction."""
    raw = await (await session.connection()).get_raw_connection()
    driver: Any = raw.driver_connection  # psycopg's AsyncConnection
    return TransactionStatus(driver.info.transaction_status)


def _organizations(database_url: str, name: str) -> int:
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute("SELECT count(*) FROM organizations WHERE name = %s", (name,)).fetchone()
    return int(row[0]) if row else 0


@pytest.mark.postgres
async def test_a_read_sends_no_begin_and_the_first_write_begins_the_transaction(
    engine: AsyncEngine, database_url: str
) -> None:
    name = f"Lazy Group {uuid.uuid4().hex[:8]}"
    async with make_sessionmaker(engine)() as session:
        await session.exec(_NEEDS)
        assert await _status(session) == TransactionStatus.IDLE
        session.add(Organization(name=name))
        await session.flush()
        assert await _status(session) == TransactionStatus.INTRANS
        await session.exec(_NEEDS)  # once begun, reads are inside it and see its writes
        found = await session.exec(select(Organization.id).where(col(Organization.name) == name))
        assert len(found.all()) == 1
        assert _organizations(database_url, name) == 0  # not committed: nobody else sees it
        await session.rollback()
    assert _organizations(database_url, name) == 0  # and the rollback undid it
    async with make_sessionmaker(engine)() as session:
        session.add(Organization(name=name))
        await session.commit()
    assert _organizations(database_url, name) == 1


@pytest.mark.postgres
async def test_a_lock_taken_by_a_select_lasts_until_the_commit(
    engine: AsyncEngine, database_url: str
) -> None:
    key = 7_301_931

    def held() -> int:
        with psycopg.connect(libpq_url(database_url)) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND granted", (key,)
            ).fetchone()
        return int(row[0]) if row else 0

    async with make_sessionmaker(engine)() as session:
        await session.exec(_NEEDS)  # a plain read first: no transaction yet
        await session.exec(select(func.pg_advisory_xact_lock(key)))
        assert await _status(session) == TransactionStatus.INTRANS
        assert held() == 1
        await session.exec(_NEEDS.with_for_update())
        assert held() == 1
        await session.commit()
    assert held() == 0


@pytest.mark.postgres
async def test_a_streamed_read_runs_in_a_transaction(engine: AsyncEngine) -> None:
    # A server-side cursor exists only inside a transaction: a streamed plain read begins one.
    async with make_sessionmaker(engine)() as session:
        result = await session.stream(_NEEDS)
        assert await result.all() == []
        assert await _status(session) == TransactionStatus.INTRANS


@pytest.mark.postgres
async def test_under_a_stricter_default_isolation_every_read_begins(database_url: str) -> None:
    name = f"mutual_aid_strict_{uuid.uuid4().hex[:8]}"
    admin_url = libpq_url(database_url).rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        admin.execute(f"ALTER DATABASE \"{name}\" SET default_transaction_isolation = 'repeatable read'")
    try:
        engine = make_engine(make_settings(database_url.rsplit("/", 1)[0] + f"/{name}"))
        try:
            catalogue: Any = select(column("relname")).select_from(table("pg_class")).limit(1)
            assert is_plain_read(catalogue)
            async with AsyncSession(engine) as session:
                await session.exec(catalogue)
                assert await _status(session) == TransactionStatus.INTRANS
        finally:
            await engine.dispose()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
