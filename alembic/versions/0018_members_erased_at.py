"""members: erased_at, the mark of an account erased by its owner

Revision ID: 0018
Revises: 0016
Create Date: 2026-11-30 11:45:00.000000

The row of an erased member is kept as a tombstone holding nothing that names them (docs/data-rights.md):
what refers to it keeps its foreign keys, and this column makes every credential of theirs refused.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0018"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("erased_at")
