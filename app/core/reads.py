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
`INSERT`/`UPDATE`/`DELETE`), no SQL text (`text()`, a literal column other than `*` or a
number, a prefix, suffix or hint, an operator outside `PURE_OPERATORS`: any could say
anything) and no function outside `PURE` (nor one qualified by a schema). Anything else
begins the transaction first, so `SELECT pg_advisory_xact_lock(...)` and `SELECT pg_notify(...)`
keep their transaction, and a statement of a new kind counts as a write until it is listed
here. A streamed result (a server-side cursor) begins it too: Postgres declares such cursors
only inside a transaction.
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
from sqlalchemy.sql.operators import custom_op
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

# Operators written with `.op()`, sent as written: these only compare (bits, boxes, distances).
PURE_OPERATORS = frozenset({"&", "<->", "<@", "&&"})

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
        if isinstance(element, ColumnClause) and element.is_literal and not _inert(element.name):
            return False
        if isinstance(element, Select) and (element._for_update_arg is not None or _verbatim(element)):
            return False
        if isinstance(element, FunctionElement) and not _pure(element):
            return False
        operator = getattr(element, "operator", None)
        if isinstance(operator, custom_op) and operator.opstring not in PURE_OPERATORS:
            return False
    return True


def _inert(literal: str) -> bool:
    """A literal column that is only what it says: `*` (as `exists()` selects) or a number."""
    return literal == "*" or literal.isdigit()


def _pure(function: FunctionElement[Any]) -> bool:
    """A listed function, not qualified by a schema (where any function could hide)."""
    return not getattr(function, "packagenames", ()) and str(getattr(function, "name", "")).lower() in PURE


def _verbatim(select: Select[Any]) -> bool:
    """Whether the SELECT carries text its tree does not show: prefixes, suffixes, hints."""
    return any(getattr(select, name, None) for name in _VERBATIM)


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
    streamed = context.execution_options.get("stream_results", False)
    if conn.dialect.default_isolation_level == READ_COMMITTED and _plain(context) and not streamed:
        return
    # On a cursor of its own: `cursor` may be a server-side one (a streamed result, which needs
    # the transaction too), whose every statement becomes its DECLARE.
    own = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        own.execute("BEGIN")
    finally:
        own.close()


def defer_begin(engine: AsyncEngine) -> AsyncEngine:
    """On `engine`, whose connections are in autocommit (`make_engine` on Postgres), begin each
    transaction at its first statement that is not a plain read. Returns the engine."""
    event.listen(engine.sync_engine, "before_cursor_execute", _begin_before_writes)
    return engine
