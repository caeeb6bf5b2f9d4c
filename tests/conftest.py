"""Test fixtures: apps built once per run, a fresh database per test, on SQLite by default or
Postgres via TEST_DATABASE_URL, serially or on pytest-xdist workers (`-n 2`).

Building an app (routes, dependencies, middleware, the first request's set-up) costs more than
most tests, so each xdist worker builds one app per set of settings and reuses it: every test
gets that app with its own engine, rate limiter and `app.state`, on an empty database. A test that
changes its app (adds a route, edits its settings) is marked `own_app` and gets one of its own;
one that does so unmarked fails, as it would leak into the tests after it.

SQLite runs in memory with the models' schema, a new database per test. Postgres: the
TEST_DATABASE_URL database is migrated once with Alembic; on xdist each worker clones it
(CREATE DATABASE ... TEMPLATE) into a database of its own, dropped at the end. Tables are emptied
with DELETE before each test: TRUNCATE rewrites every table's files and takes ~50 times as long.
When TEST_DATABASE_URL names a Postgres that does not answer, the run fails: a database pass that
quietly skipped would prove nothing.

Postgres allows 100 connections in all. Tests that open many at once (the `shared_client` ones,
the *concurrency* and *race* files, and those marked `connection_heavy`) share one xdist group,
so they run one at a time on one worker; every other app pools at most DB_POOL_SIZE connections.
"""

import contextlib
import functools
import os
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from hypothesis import settings as hypothesis_settings
from sqlalchemy import make_url, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlmodel import SQLModel

import app.models  # noqa: F401  (every table in the metadata)
from app.auth.ratelimit import RateLimiter
from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker, sync_url
from app.main import create_app
from app.migrate import upgrade_head
from app.seed import UNLIMITED_TRUST
from tests.mailbox import MAIL_SETTINGS, Mailbox

CI = os.environ.get("CI") == "true"
# The database named by TEST_DATABASE_URL: migrated once, and on xdist the workers' template.
TEMPLATE_URL = os.environ.get("TEST_DATABASE_URL", "sqlite+aiosqlite://")
IS_POSTGRES = TEMPLATE_URL.startswith("postgres")
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1"... on an xdist worker
DATABASE_URL = (
    make_url(TEMPLATE_URL).set(database=f"{make_url(TEMPLATE_URL).database}_{WORKER}").render_as_string(False)
    if IS_POSTGRES and WORKER
    else TEMPLATE_URL
)
# Pooled connections per app unless a test asks for more. The connection-heavy group, on one
# worker, holds at most 55 + this; every other worker at most a few apps of this many each.
DB_POOL_SIZE = 5
CONNECTION_HEAVY = "connection-heavy"
# Secrets at rest are sealed under this key in tests (app.core.encryption): a fixed one, so no
# test writes a development key file, and a test can open what it finds in a table.
TEST_DATA_KEY = "dGVzdC1rZXktZm9yLXNlY3JldHMtYXQtcmVzdC0wMTI="

# Hypothesis: the full amounts under CI=true (Hypothesis's own `ci` profile: derandomised, no
# deadline), fewer examples on a developer's run unless HYPOTHESIS_PROFILE=ci asks for them.
hypothesis_settings.register_profile("dev", max_examples=20)
HYPOTHESIS_PROFILE = "ci" if CI else os.environ.get("HYPOTHESIS_PROFILE", "dev")
hypothesis_settings.load_profile(HYPOTHESIS_PROFILE)


def libpq_url(url: str) -> str:
    return sync_url(url).replace("postgresql+psycopg://", "postgresql://")


def _admin_url() -> str:
    return libpq_url(make_url(TEMPLATE_URL).set(database="postgres").render_as_string(False))


def pytest_sessionstart(session: pytest.Session) -> None:
    """Once per run, before any xdist worker starts (xdist starts them last): the template
    database at head."""
    if not IS_POSTGRES or WORKER:
        return
    try:
        psycopg.connect(libpq_url(TEMPLATE_URL), connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        pytest.exit(f"TEST_DATABASE_URL names a Postgres that does not answer: {exc}", returncode=3)
    upgrade_head(TEMPLATE_URL)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database-tests-only",
        action="store_true",
        help="run only the tests that reach the test database (CI's second database pass: the "
        "others, pure functions and their own SQLite files, already ran in the first)",
    )


def _reaches_the_database(item: pytest.Item) -> bool:
    """Through the `database_url` fixture (directly or under `client`, `application`...), as a
    Postgres-only test, or by reading this module's database settings itself."""
    if "database_url" in getattr(item, "fixturenames", []) or item.get_closest_marker("postgres"):
        return True
    module = getattr(item, "module", None)
    own = {"IS_POSTGRES": IS_POSTGRES, "DATABASE_URL": DATABASE_URL, "libpq_url": libpq_url}
    return any(name in vars(module) and vars(module)[name] is value for name, value in own.items())


def _connection_heavy(item: pytest.Item) -> bool:
    stem = item.path.stem
    fixtures: list[str] = getattr(item, "fixturenames", [])
    return (
        "shared_client" in fixtures
        or "concurrency" in stem
        or "race" in stem
        or item.get_closest_marker("connection_heavy") is not None
    )


def _set_nodeid(item: pytest.Item, nodeid: str) -> None:
    if hasattr(item, "_id"):  # pytest 9.2 keeps node ids structured
        item._id = type(item._id).parse(nodeid)
    else:
        item._nodeid = nodeid  # type: ignore[attr-defined]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Postgres-only tests belong to the Postgres pass; leave them out of the SQLite one, and with
    --database-tests-only leave out every test that never reaches the test database. Tests
    that open many connections at once run one at a time, on one xdist worker."""
    grouping = bool(getattr(config.option, "loadgroup", False))  # set on xdist workers
    for item in items:
        # Schemathesis gives every operation's test one node id (`test_api`); xdist schedules by
        # node id, so under --dist loadgroup it would run one operation and drop the others.
        if not item.nodeid.endswith(f"::{item.name}"):
            _set_nodeid(item, f"{item.nodeid.rpartition('::')[0]}::{item.name}")
        if _connection_heavy(item):
            item.add_marker(pytest.mark.xdist_group(CONNECTION_HEAVY))
            # xdist groups a test by the "@group" it appends to the node id, but on pytest 9.2
            # its append no longer takes (pytest-xdist issue 1386): the groups silently vanish.
            if grouping and not item.nodeid.endswith(f"@{CONNECTION_HEAVY}"):
                _set_nodeid(item, f"{item.nodeid}@{CONNECTION_HEAVY}")
    twice = sorted(nodeid for nodeid, n in Counter(i.nodeid for i in items).items() if n > 1)
    if twice:
        raise pytest.UsageError(f"tests that share a node id would not all run under xdist: {twice}")
    # Longest first: xdist hands tests out in this order, so the slow ones and the one-at-a-time
    # group start at once and the short ones even out the workers at the end, instead of one
    # worker finishing a minute-long test alone. A stable sort: modules stay together.
    items.sort(key=lambda i: not (i.get_closest_marker("slow") or _connection_heavy(i)))
    only_database = config.getoption("database_tests_only")
    dropped = [
        i
        for i in items
        if (not IS_POSTGRES and i.get_closest_marker("postgres") is not None)
        or (only_database and not _reaches_the_database(i))
    ]
    gone = {id(i) for i in dropped}
    keep = [i for i in items if id(i) not in gone]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> None:
    """Real argon2, at the cheapest cost: the suite signs up hundreds of synthetic members."""
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    from app.core import security

    security._hasher = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    security._DUMMY_HASH = security._hasher.hash("not-a-real-password-just-for-timing")


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """The database this process tests on: an xdist worker's clone of the template, made here
    and dropped at the end; otherwise the template itself."""
    if DATABASE_URL == TEMPLATE_URL:
        yield DATABASE_URL
        return
    name = make_url(DATABASE_URL).database
    template = make_url(TEMPLATE_URL).database
    with psycopg.connect(_admin_url(), autocommit=True) as admin:
        # Cloning needs the template to itself: one worker at a time.
        admin.execute("SELECT pg_advisory_lock(hashtext('mutual aid test template'))")
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        admin.execute("SELECT pg_advisory_unlock(hashtext('mutual aid test template'))")
    try:
        yield DATABASE_URL
    finally:
        with psycopg.connect(_admin_url(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "environment": "test",
        "migrate_on_startup": False,
        "jwt_secret": "test-secret-that-is-long-enough-0123456789",
        "data_encryption_keys": TEST_DATA_KEY,
        "db_pool_size": DB_POOL_SIZE,
        # A new connection may take its time: the concurrency tests open twenty at once while the
        # other test pass has both cores, and Postgres starting twenty backends then took past the
        # default 2 s (the client gave up, a 503). Tests of an outage set their own.
        "db_connect_timeout_seconds": 15,
        # Generous unless a test is about rate limits, so suites never trip over them.
        "rate_limit_member": "100000/minute",
        "rate_limit_key": "100000/minute",
        "rate_limit_anonymous": "100000/minute",
        "rate_limit_auth_failures": "100000/minute",
        # Likewise the trust limits (app.auth.trust): every tier as free as the settings allow.
        **{f"trust_{tier}": UNLIMITED_TRUST for tier in ("new", "member", "vetted")},
        # A notification stream never ends by itself before its token expires: in process (the
        # authorisation matrix, the fuzzer) it must, so a request for it returns. Short beats
        # and polls, so the tests of the stream wait little.
        "notification_stream_max_seconds": 0.3,
        "notification_heartbeat_seconds": 0.1,
        "notification_poll_seconds": 0.05,
        # A test app leaves the computing process to the first run (a few seconds of CPU each
        # time otherwise); the tests of the start-up warm-up ask for it.
        "matching_process_at_start": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@functools.cache
def sqlite_schema_script() -> str:
    """The models' schema as one SQLite script: what `metadata.create_all` emits, compiled once.
    create_all asks SQLite about every table first and compiles its DDL anew each time (27 ms a
    test here); this script runs in 3 (tests/test_suite_selection.py checks they agree)."""
    dialect = sqlite.dialect()
    statements: list[str] = []
    for table in SQLModel.metadata.sorted_tables:
        statements.append(str(CreateTable(table).compile(dialect=dialect)).strip())
        statements += [str(CreateIndex(index).compile(dialect=dialect)) for index in table.indexes]
    return ";\n".join(statements) + ";"


async def empty_database(engine: AsyncEngine) -> None:
    """Postgres: every table emptied, children first. SQLite in memory: the schema created."""
    if IS_POSTGRES:
        async with engine.begin() as conn:
            tables = reversed(SQLModel.metadata.sorted_tables)
            await conn.execute(text("; ".join(f"DELETE FROM {t.name}" for t in tables)))
        return
    async with engine.connect() as conn:
        aiosqlite_connection = (await conn.get_raw_connection()).driver_connection
        assert aiosqlite_connection is not None
        await aiosqlite_connection.executescript(sqlite_schema_script())


async def fresh_app(database_url: str, **overrides: object) -> FastAPI:
    """An app of its own on an empty database, with these settings; the caller disposes of its
    engine. Most tests want the `application` fixture or `app_for_test` instead: cheaper."""
    application = create_app(make_settings(database_url, **overrides))
    await empty_database(application.state.engine)
    return application


_built: dict[str, FastAPI] = {}  # by settings: apps this process has built, reused test after test
_in_use: set[int] = set()
# Each built app's engine, kept too: SQLAlchemy caches the SQL it compiles per engine, and a new
# engine a test compiled every statement again (tests/needs, matches and offers: 57 s of CPU
# with an engine per test, 47 s with one kept). Disposed after every test all the same: its
# connections belong to that test's event loop, and in-memory SQLite is a new database each time.
_engines: dict[str, AsyncEngine] = {}


@contextlib.asynccontextmanager
async def app_for_test(database_url: str, **overrides: object) -> AsyncIterator[FastAPI]:
    """The app with these settings, built once per process, on an empty database: this test's
    own engine, rate limiter and `app.state`, all put back afterwards."""
    key = repr((database_url, sorted(overrides.items())))
    if key not in _built:
        _built[key] = create_app(make_settings(database_url, **overrides))
    application = _built[key]
    if id(application) in _in_use:  # asked for twice in one test: the second gets its own
        own = await fresh_app(database_url, **overrides)
        try:
            yield own
        finally:
            await own.state.engine.dispose()
        return
    _in_use.add(id(application))
    state: dict[str, Any] = application.state._state
    saved, settings = dict(state), application.state.settings
    frozen, routes = settings.model_dump(), len(application.router.routes)
    if key not in _engines:
        _engines[key] = make_engine(settings)
    engine = _engines[key]
    limiter = RateLimiter(settings)
    try:
        await empty_database(engine)
        state.update(engine=engine, sessionmaker=make_sessionmaker(engine, settings), rate_limiter=limiter)
        yield application
    finally:
        await limiter.aclose()
        await engine.dispose()
        state.clear()
        state.update(saved)
        _in_use.discard(id(application))
        changed = settings.model_dump() != frozen or len(application.router.routes) != routes
        if changed:
            del _built[key], _engines[key]  # never handed out again
            pytest.fail("this test changed the shared app (settings or routes): mark it own_app")


@pytest.fixture
async def application(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[FastAPI]:
    if request.node.get_closest_marker("own_app") is not None:
        own = await fresh_app(database_url)
        yield own
        await own.state.engine.dispose()
        return
    async with app_for_test(database_url) as shared:
        yield shared


def asgi_client(app: FastAPI) -> httpx.AsyncClient:
    """A client calling `app` in process; an exception in the app is its 500 answer, as a server's."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
async def client(application: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(application) as c:
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


# Mail: a real SMTP server a test module, and an app whose worker sends to it.
@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.controller.start()
    yield box
    box.controller.stop()


@pytest.fixture
async def mail_app(database_url: str, mailbox: Mailbox) -> AsyncIterator[FastAPI]:
    mailbox.messages.clear()
    mailbox.refuse, mailbox.defer = False, 0
    async with app_for_test(database_url, smtp_url=mailbox.url, **MAIL_SETTINGS) as app:
        yield app


@pytest.fixture
async def mail_client(mail_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(mail_app) as c:
        yield c
