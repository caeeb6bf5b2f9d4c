"""The organisation an admin action was about, in a column of its own

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-01 23:20:00.000000

`admin_actions.organization_id`: appointing a coordinator names the organisation here rather
than in `detail`, whose 4,000 characters are the reason's.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("admin_actions") as batch:
        batch.add_column(sa.Column("organization_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("admin_actions") as batch:
        batch.drop_column("organization_id")
