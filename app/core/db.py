"""Database engine and sessions: async everywhere, one engine per app."""

import select
from typing import Any

import orjson
import psycopg
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings, get_settings
from app.core.reads import defer_begin
from app.geo import haversine_km


def async_url(url: str) -> str:
    """Accept plain URLs too: sqlite:// and postgresql:// get their async drivers."""
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url.removeprefix("sqlite://")
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def sync_url(url: str) -> str:
    """The same database through a sync driver (Alembic)."""
    if url.startswith("sqlite+aiosqlite://"):
        return "sqlite://" + url.removeprefix("sqlite+aiosqlite://")
    return async_url(url) if url.startswith(("postgresql://", "postgres://")) else url


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


# psycopg turns a statement's `%(name)s` placeholders into `$n` with a regular expression, and
# keeps the result only for statements of at most MAX_CACHED_STATEMENT_LENGTH bytes (4,096 as
# shipped). A candidate search's pool statement (app.dispatch.pools) is ~5,300 bytes, so each
# search converted it again: 0.12-0.34 ms of CPU alone; in a search, ~0.1 ms (3%) of its Python.
# Its cache is an LRU of 128 statements; at this bound it holds at most ~2 MB. (It also skips
# statements of more than MAX_CACHED_STATEMENT_PARAMS parameters, 50; a pool has 38.)
# tests/dispatch/test_pools.py checks both bounds against every pool and alert statement.
CACHED_STATEMENT_BYTES = 16_384


def cache_long_statements() -> bool:
    """Let psycopg keep the conversion of statements up to CACHED_STATEMENT_BYTES (idempotent).
    False, and psycopg left as it is, when this psycopg has no such bound (a private module)."""
    try:
        from psycopg import _queries as psycopg_queries
    except ImportError:
        return False
    current = getattr(psycopg_queries, "MAX_CACHED_STATEMENT_LENGTH", None)
    if not isinstance(current, int):
        return False
    psycopg_queries.MAX_CACHED_STATEMENT_LENGTH = max(current, CACHED_STATEMENT_BYTES)
    return True


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off in SQLite unless asked for on every connection.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    # The same haversine as Python's, so radius search agrees with it to the last bit.
    dbapi_connection.create_function("haversine_km", 4, haversine_km, deterministic=True)


def _sqlite_savepoint(conn: Any, _name: Any) -> None:
    # The sqlite3 driver opens a transaction only before its first write, so a SAVEPOINT that
    # comes first would open the transaction itself, and its RELEASE would commit it: the
    # savepoint's work would outlive a rollback of the request. BEGIN first keeps it nested;
    # IMMEDIATE, because a savepoint is there to write: a deferred transaction that read first
    # could not take the write lock while another writer waits on it (SQLITE_BUSY, no waiting).
    if not conn.connection.driver_connection.in_transaction:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(settings: Settings) -> AsyncEngine:
    url = async_url(settings.database_url)
    # Bound values are people's addresses, phones and password hashes: never in logs or errors.
    # orjson for JSON columns: candidate pools parse thousands of small lists per second.
    kwargs: dict[str, Any] = {
        "hide_parameters": True,
        "json_deserializer": orjson.loads,
        "json_serializer": _dumps,
    }
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False}
        if ":memory:" in url or url.rstrip("/").endswith("sqlite+aiosqlite:"):
            kwargs["poolclass"] = StaticPool
    else:
        # One-off PostGIS plans trigger JIT, which costs far more than the query itself. A
        # statement that runs away is cancelled rather than holding a pooled connection forever.
        options = f"-c jit=off -c statement_timeout={settings.db_statement_timeout_ms}"
        kwargs["connect_args"] = {
            "options": options,
            "connect_timeout": settings.db_connect_timeout_seconds,
        }
        kwargs["pool_size"] = settings.db_pool_size
        kwargs["max_overflow"] = 0
        kwargs["pool_timeout"] = settings.db_pool_timeout_seconds
        # Plain reads run outside a transaction until the first write (app.core.reads).
        kwargs["isolation_level"] = "AUTOCOMMIT"
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        event.listen(engine.sync_engine, "savepoint", _sqlite_savepoint)
    else:
        cache_long_statements()
        event.listen(engine.sync_engine, "checkout", _refuse_closed)
        defer_begin(engine)
    return engine


def server_closed(dbapi_connection: Any) -> bool:
    """Whether the server has ended this idle pooled connection: it is broken, or its socket
    has something to read. Between requests the server sends nothing unless it is going away
    (a restart, `pg_terminate_backend`, an idle timeout: an error, then the end of the
    stream); the rare report of a changed setting is taken for the same, which costs one
    reconnection. One non-blocking poll, no round trip."""
    conn = dbapi_connection.driver_connection  # psycopg's AsyncConnection
    if conn.closed or conn.broken:
        return True
    try:
        poller = select.poll()
        poller.register(conn.pgconn.socket, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    except (OSError, ValueError, psycopg.OperationalError):  # no socket left
        return True


def _refuse_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    # A connection the server dropped is replaced at checkout (the pool tries again with a new
    # one), so the service recovers by itself once the database is back. SQLAlchemy's
    # `pool_pre_ping` did this with a round trip per checkout, an empty statement costing as
    # much of a short read's time as its own query; the server's closing arrives by itself.
    if server_closed(dbapi_connection):
        raise DisconnectionError("the server closed this pooled connection")


def make_sessionmaker(
    engine: AsyncEngine, settings: Settings | None = None
) -> async_sessionmaker[AsyncSession]:
    """Sessions on `engine`; each carries `settings` (see `settings_of`) when given."""
    info = {"settings": settings} if settings is not None else None
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False, info=info)


def settings_of(session: AsyncSession) -> Settings:
    """The settings of the app (or worker) whose sessionmaker made `session`: what a service
    deep in a request needs (links in mail, signing keys) without every caller passing it on.
    A session made without them (a command of its own) gets the environment's."""
    settings = session.info.get("settings")
    return settings if isinstance(settings, Settings) else get_settings()
