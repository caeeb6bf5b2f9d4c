"""Per-category KNN indexes for every category's permanent bit number, where one is missing

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 08:10:00.000000

0003 made one index per category, numbered by the category's place in the enum at the time (a
list now frozen there). Bit numbers are now permanent (app.bit_numbers), and an index is named by
its category's number, so this creates, on Postgres, any index a category has none of; on a
database 0003 built with today's categories it finds them all and does nothing. A category added
later needs a revision of its own running `category_index_sql()` again, for databases past this
one; a fresh database gets its index here.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The indexes 0003 made and its own downgrade drops.
FROM_0003 = frozenset(range(12))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    from app.spatial import category_index_sql

    for statement in category_index_sql():
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    from app.bit_numbers import CATEGORY

    for bit in sorted(set(CATEGORY.values()) - FROM_0003):
        op.execute(f"DROP INDEX IF EXISTS ix_offers_geog_category_{bit}")
