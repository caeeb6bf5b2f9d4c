"""`python -m app secrets rotate`: every sealed value re-sealed under the newest data key.

Every column marked `SEALED` (app.core.encryption) in the metadata is walked in primary-key
order, a batch per transaction. A value already under the newest key is left alone, so a second
run changes nothing and an interrupted run resumes where it stopped. Each write is conditional
on the value being unchanged since it was read: a secret replaced meanwhile is not overwritten.
"""

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, MetaData, Table, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker
from app.core.encryption import SEALED, KeyRing, Unreadable, key_ring
from app.core.transactions import commit_own


@dataclass
class Tally:
    """One sealed column: values re-sealed now, already under the newest key, and opened by no key."""

    column: str
    resealed: int = 0
    current: int = 0
    unreadable: int = 0


def sealed_columns(metadata: MetaData) -> list[tuple[Table, list[Column[Any]]]]:
    """Each table holding sealed columns, with them (tables sorted by name)."""
    found = []
    for table in sorted(metadata.tables.values(), key=lambda t: t.name):
        columns = [c for c in table.columns if c.info.get("sealed") == SEALED["sealed"]]
        if columns:
            found.append((table, columns))
    return found


async def _batch(
    session: AsyncSession,
    table: Table,
    column: Column[Any],
    keys: KeyRing,
    tally: Tally,
    after: Any,
    size: int,
) -> Any:
    """One batch after primary key `after`; returns the last key read, or None at the end."""
    [key] = table.primary_key.columns  # every sealed table has a one-column key
    query = select(key, column).where(column != "").order_by(key).limit(size)
    if after is not None:
        query = query.where(key > after)
    rows = (await session.exec(query)).all()
    for pk, value in rows:
        if keys.is_current(value):
            tally.current += 1
            continue
        try:
            fresh = keys.reseal(value)
        except Unreadable:
            tally.unreadable += 1
            continue
        changed = await session.exec(
            update(table).where(key == pk, column == value).values({column.name: fresh})
        )
        tally.resealed += int(changed.rowcount)
    await commit_own(session)
    return rows[-1][0] if len(rows) == size else None


async def rotate(
    sessions: async_sessionmaker[AsyncSession], keys: KeyRing, metadata: MetaData, *, batch_size: int
) -> list[Tally]:
    """Re-seal every sealed value under `keys`' newest key; a tally per column."""
    tallies = []
    for table, columns in sealed_columns(metadata):
        for column in columns:
            tally = Tally(f"{table.name}.{column.name}")
            after: Any = None
            while True:
                async with sessions() as session:
                    after = await _batch(session, table, column, keys, tally, after, batch_size)
                if after is None:
                    break
            tallies.append(tally)
    return tallies


def report(tallies: list[Tally]) -> str:
    lines = [f"{t.column}: {t.resealed} re-sealed, {t.current} already current" for t in tallies]
    unreadable = sum(t.unreadable for t in tallies)
    if unreadable:
        lines.append(
            f"{unreadable} values open with no configured key: put back the key that sealed them "
            "(DATA_ENCRYPTION_KEYS) and run this again before dropping any key"
        )
    return "\n".join(lines)


async def _once(settings: Settings, metadata: MetaData, batch_size: int) -> list[Tally]:
    engine = make_engine(settings)
    try:
        return await rotate(make_sessionmaker(engine), key_ring(settings), metadata, batch_size=batch_size)
    finally:
        await engine.dispose()


def main(settings: Settings, metadata: MetaData, *, batch_size: int) -> int:
    """Print a line per sealed column; exit status 1 when some value opens with no key."""
    tallies = asyncio.run(_once(settings, metadata, batch_size))
    print(report(tallies))
    return 1 if any(t.unreadable for t in tallies) else 0
