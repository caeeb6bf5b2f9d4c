"""Needs: `approval`, who lets a volunteer's claim through

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 10:40:00.000000

Every existing need becomes `requester`: from now on a claim on it waits for the need's side,
as the v2 contract asks (a stranger's claim never reveals anyone); an organisation that wants
claims on its needs accepted at once sets `automatic` on each.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("needs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "approval",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                server_default="requester",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("needs", schema=None) as batch_op:
        batch_op.drop_column("approval")
