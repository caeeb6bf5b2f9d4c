"""Recurring needs: the series' columns, and a match naming one occurrence

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 11:34:27.351313

A need's window is its first occurrence; `recurrence_rule` repeats it on the wall clock of
`timezone`. `last_starts_at` bounds the series as accepted, `last_ends_at` is when its last
occurrence not cancelled ends (when the need closes), and `cancelled_occurrences` holds the UTC
starts cancelled one by one. Existing needs recur not: every new column is null, or an empty list.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("occurrence_start", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("needs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("recurrence_rule", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True)
        )
        batch_op.add_column(sa.Column("recurrence_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_starts_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_ends_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("cancelled_occurrences", sa.JSON(), server_default="[]", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("needs", schema=None) as batch_op:
        for name in (
            "cancelled_occurrences",
            "last_ends_at",
            "last_starts_at",
            "recurrence_until",
            "recurrence_rule",
            "timezone",
        ):
            batch_op.drop_column(name)

    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.drop_column("occurrence_start")
