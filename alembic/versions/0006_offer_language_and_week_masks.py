"""Offers: language and weekly-availability masks, so SQL applies those filters too

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-02 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401

from alembic import op

revision: str = "0006"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("languages_mask", "availability_mask_0", "availability_mask_1", "availability_mask_2")
CHUNK = 5000


def upgrade() -> None:
    with op.batch_alter_table("offers", schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.BigInteger(), nullable=False, server_default="-1"))
    _backfill()


def _backfill() -> None:
    """Existing offers get their masks from their lists, a chunk at a time in primary-key order.

    Until then every row holds -1, which passes every mask test: never wrong, only slower."""
    from app.matching.masks import offer_columns

    bind = op.get_bind()
    offers = sa.table(
        "offers",
        sa.column("id", sa.Uuid()),
        sa.column("languages", sa.JSON()),
        sa.column("availability", sa.JSON()),
        sa.column("timezone", sa.String()),
        *(sa.column(name, sa.BigInteger()) for name in COLUMNS),
    )
    update = (
        offers.update()
        .where(offers.c.id == sa.bindparam("row_id"))
        .values({name: sa.bindparam(f"new_{name}") for name in COLUMNS})
    )
    last = None
    while True:
        page = sa.select(offers.c.id, offers.c.languages, offers.c.availability, offers.c.timezone)
        if last is not None:
            page = page.where(offers.c.id > last)
        rows = bind.execute(page.order_by(offers.c.id).limit(CHUNK)).all()
        if not rows:
            return
        values = []
        for row in rows:
            masks = offer_columns(row.languages, row.availability, row.timezone)
            values.append({"row_id": row.id, **{f"new_{k}": v for k, v in masks.items()}})
        bind.execute(update, values)
        last = rows[-1].id


def downgrade() -> None:
    with op.batch_alter_table("offers", schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
