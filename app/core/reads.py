"""Plain reads outside a transaction until the first write (Postgres).

A request's session begins its transaction with its first statement: a read that writes
nothing (most GETs) paid `BEGIN` and `COMMIT`, two more round trips than the read itself.
Under Postgres' READ COMMITTED (the service's level) every statement takes its own snapshot,
in a transaction or not, so a plain read that comes before any write sees exactly what it
would see inside one. The engine's connections are therefore in autocommit, and `BEGIN` is
sent, once, before the first statement that is *not* a plain read; `COMMIT` (or `ROLLBACK`)
follows as before, and is skipped by the driver when no transaction began. On a database
whose default isolation is stricter (REPEATABLE READ, SERIALIZABLE), where a read outside the
transaction would not be the same read, every statement begins it as before.

A plain read is decided from the compiled statement, once per compiled form: a `SELECT` whose
tree holds no locking clause (`FOR UPDATE`/`FOR SHARE`), no data-changing statement (a CTE of
`INSERT`/`UPDATE`/`DELETE`), no SQL text (`text()`, a literal column other than `*` and `1`,
a prefix, suffix or hint: any could say anything) and no function outside `PURE`. Anything
else begins the transaction first, so `SELECT pg_advisory_xact_lock(...)` and
`SELECT pg_notify(...)` keep their transaction, and a statement of a new kind counts as a
write until it is listed here.
"""

import weakref
from typing import Any

from psycopg.pq import TransactionStatus
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import visitors
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import ColumnClause, TextClause
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import Select

# Functions with no effect but their value (Postgres' documentation: immutable or stable, no
# side effects). Lower case; PostGIS' as its functions are named.
PURE = frozenset(
    {
        "asin", "coalesce", "cos", "count", "cube", "cube_enlarge", "greatest", "haversine_km",
        "least", "lower", "max", "min", "power", "radians", "sin", "sqrt", "sum", "unnest", "upper",
        "st_dwithin", "st_makepoint", "st_setsrid", "_st_expand",
    }
)  # fmt: skip

# Literal columns that are only what they say: `exists()` selects `*`.
_INERT_LITERALS = frozenset({"*", "1"})

# Where a SELECT keeps text it was given verbatim (not part of its tree).
_VERBATIM = ("_prefixes", "_suffixes", "_hints", "_statement_hints")

READ_COMMITTED = "READ COMMITTED"

_decided: "weakref.WeakKeyDictionary[Any, bool]" = weakref.WeakKeyDictionary()


def is_plain_read(statement: Any) -> bool:
    """Whether `statement` (a SQLAlchemy construct) only reads: see the module's rule."""
    if not isinstance(statement, Select):
        return False
    for element in visitors.iterate(statement):
        if isinstance(element, (UpdateBase, TextClause)):
            return False
        if isinstance(element, ColumnClause) and element.is_literal and element.name not in _INERT_LITERALS:
            return False
        if isinstance(element, Select) and (element._for_update_arg is not None or _verbatim(element)):
            return False
        if isinstance(element, FunctionElement) and str(getattr(element, "name", "")).lower() not in PURE:
            return False
    return True


def _verbatim(select: Select[Any]) -> bool:
    """Whether the SELECT carries text its tree does not show: prefixes, suffixes, hints."""
    return any(
        getattr(select, name, None) for name in ("_prefixes", "_suffixes", "_hints", "_statement_hints")
    )


def _plain(context: Any) -> bool:
    compiled = getattr(context, "compiled", None)
    if compiled is None:  # SQL sent as a string: it could say anything
        return False
    decided = _decided.get(compiled)
    if decided is None:
        decided = _decided[compiled] = is_plain_read(compiled.statement)
    return decided


def _begin_before_writes(
    conn: Connection, cursor: Any, _statement: str, _parameters: Any, context: Any, _many: bool
) -> None:
    driver: Any = conn.connection.driver_connection  # psycopg's AsyncConnection
    if driver.info.transaction_status != TransactionStatus.IDLE:
        return
    # The rule holds under READ COMMITTED only: a database whose default is stricter (read by
    # SQLAlchemy at the engine's first connection) keeps every statement in its transaction.
    if conn.dialect.default_isolation_level == READ_COMMITTED and _plain(context):
        return
    cursor.execute("BEGIN")


def defer_begin(engine: AsyncEngine) -> AsyncEngine:
    """On `engine`, whose connections are in autocommit (`make_engine` on Postgres), begin each
    transaction at its first statement that is not a plain read. Returns the engine."""
    event.listen(engine.sync_engine, "before_cursor_execute", _begin_before_writes)
    return engine
