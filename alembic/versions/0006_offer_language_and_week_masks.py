"""Offers: language and weekly-availability masks, so SQL applies those filters too

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 06:45:00.000000
"""

from collections.abc import Sequence
from typing import Any, cast

import psycopg
import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("languages_mask", "availability_mask_0", "availability_mask_1", "availability_mask_2")
CHUNK = 5000


def upgrade() -> None:
    with op.batch_alter_table("offers", schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.BigInteger(), nullable=False, server_default="-1"))
    _backfill()


_OFFERS = sa.table(
    "offers",
    sa.column("id", sa.Uuid()),
    sa.column("languages", sa.JSON()),
    sa.column("availability", sa.JSON()),
    sa.column("timezone", sa.String()),
    *(sa.column(name, sa.BigInteger()) for name in COLUMNS),
)


def _backfill() -> None:
    """Existing offers get their masks from their lists, a chunk at a time in primary-key order.

    Until then every row holds -1, which passes every mask test: never wrong, only slower."""
    from app.matching.masks import offer_columns

    bind = op.get_bind()
    copied = bind.dialect.name == "postgresql"
    if copied:
        bind.exec_driver_sql(f"CREATE TEMP TABLE offer_masks (id uuid PRIMARY KEY, {_TYPED}) ON COMMIT DROP")
    columns = (_OFFERS.c.id, _OFFERS.c.languages, _OFFERS.c.availability, _OFFERS.c.timezone)
    last = None
    while True:
        page = sa.select(*columns).order_by(_OFFERS.c.id).limit(CHUNK)
        rows = bind.execute(page if last is None else page.where(_OFFERS.c.id > last)).all()
        if not rows:
            break
        masks = {r.id: offer_columns(r.languages, r.availability, r.timezone) for r in rows}
        (_copy if copied else _write_each)(bind, masks)
        last = rows[-1].id
    if copied:  # one join at the end: row by row, a million offers took minutes
        new = sa.table(
            "offer_masks", sa.column("id", sa.Uuid()), *(sa.column(n, sa.BigInteger()) for n in COLUMNS)
        )
        bind.execute(_OFFERS.update().where(_OFFERS.c.id == new.c.id).values({n: new.c[n] for n in COLUMNS}))


_TYPED = ", ".join(f"{name} bigint NOT NULL" for name in COLUMNS)


def _copy(bind: sa.Connection, masks: dict[Any, dict[str, int]]) -> None:
    """Into the temporary table, through the driver's COPY."""
    driver = cast(psycopg.Connection[Any], bind.connection.dbapi_connection)
    statement = f"COPY offer_masks (id, {', '.join(COLUMNS)}) FROM STDIN"
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for offer_id, m in masks.items():
            copy.write_row((offer_id, *(m[n] for n in COLUMNS)))


def _write_each(bind: sa.Connection, masks: dict[Any, dict[str, int]]) -> None:
    """SQLite: one UPDATE a row (its databases are small)."""
    update = (
        _OFFERS.update()
        .where(_OFFERS.c.id == sa.bindparam("row_id"))
        .values({name: sa.bindparam(f"new_{name}") for name in COLUMNS})
    )
    bind.execute(update, [{"row_id": i, **{f"new_{n}": m[n] for n in COLUMNS}} for i, m in masks.items()])


def downgrade() -> None:
    with op.batch_alter_table("offers", schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
