"""Nearby-need alerts sent after the need commits

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-30 23:00:00.000000

`alert_fanouts` holds a need whose `need.nearby` alerts are still to be sent: written with the
need, deleted with the alerts, so a fan-out lost with its process is left for the worker.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_fanouts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("need_id", sa.Uuid(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["need_id"], ["needs.id"], name=op.f("fk_alert_fanouts_need_id_needs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_fanouts")),
    )
    op.create_index(op.f("ix_alert_fanouts_created_at"), "alert_fanouts", ["created_at"], unique=False)
    op.create_index(op.f("ix_alert_fanouts_need_id"), "alert_fanouts", ["need_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_alert_fanouts_need_id"), table_name="alert_fanouts")
    op.drop_index(op.f("ix_alert_fanouts_created_at"), table_name="alert_fanouts")
    op.drop_table("alert_fanouts")
