"""Each volunteer told of a need at most once, and a day's alerts shared between sources

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-01 22:30:00.000000

`need_alerts` records each `need.nearby` alert sent (need, volunteer, the need's source and the
UTC day): a need made public again alerts nobody it already alerted, and one organisation or
requester takes at most ALERTS_PER_SOURCE_PER_DAY of a volunteer's daily alerts.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "need_alerts",
        sa.Column("need_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("source_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_need_alerts_member_id_members"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["need_id"], ["needs.id"], name=op.f("fk_need_alerts_need_id_needs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("need_id", "member_id", name=op.f("pk_need_alerts")),
    )
    op.create_index(
        "ix_need_alerts_member_id_day_source_id",
        "need_alerts",
        ["member_id", "day", "source_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_need_alerts_member_id_day_source_id", table_name="need_alerts")
    op.drop_table("need_alerts")
