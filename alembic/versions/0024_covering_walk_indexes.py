"""Covering per-category walk indexes for candidate searches

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-30 17:10:00.000000

A candidate search walks a category's active offers nearest first and tests each one's reach,
room, languages, capabilities and hours (app.dispatch.pools). Through the geography indexes every
offer walked past is a visit to the table; these indexes hold the walk's columns (INCLUDE), so
the walk reads index pages only and can go as far as a need few volunteers meet requires. They
are built on a unit-vector point (`cube` extension, app.spatial.sphere_point) because
geography's `<->` is lossy, and Postgres refuses a lossy order in an index-only scan.
Postgres only; SQLite walks its H3 covering as before.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    from app.spatial import walk_index_sql

    op.execute("CREATE EXTENSION IF NOT EXISTS cube")
    for statement in walk_index_sql():
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    from app.bit_numbers import CATEGORY

    for bit in sorted(CATEGORY.values()):
        op.execute(f"DROP INDEX IF EXISTS ix_offers_walk_category_{bit}")
