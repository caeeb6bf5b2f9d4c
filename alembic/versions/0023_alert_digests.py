"""Daily digests of nearby-need alerts

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-30 15:10:00.000000

`alert_digests` records each member's daily digest of `need.nearby` alerts by (member, local day):
its primary key makes a digest once per member per day, whichever worker inserts it first.
The digest choice itself (`alerts.digest`) lives in the settings' `alerts` JSON: absent is `off`.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_digests",
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("alerts", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_alert_digests_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("member_id", "day", name=op.f("pk_alert_digests")),
    )


def downgrade() -> None:
    op.drop_table("alert_digests")
