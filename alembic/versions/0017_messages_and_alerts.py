"""Messages between the two sides of a match, and each member's daily count of nearby alerts

Revision ID: 0017
Revises: 0019
Create Date: 2026-11-30 11:45:00.000000

A match's messages are read in order of writing, so one index on (match_id, created_at, id) serves
both the page and its cursor. `body` is nullable: a moderator's removal clears it, keeping the row.
`alert_allowances` holds one row per member and UTC day that had an alert: the daily cap is a
conditional upsert on it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

from alembic import op

revision: str = "0017"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "match_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("match_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("body", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"], ["members.id"], name=op.f("fk_match_messages_author_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["match_id"], ["matches.id"], name=op.f("fk_match_messages_match_id_matches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_messages")),
    )
    op.create_index(
        "ix_match_messages_match_created", "match_messages", ["match_id", "created_at", "id"], unique=False
    )

    op.create_table(
        "alert_allowances",
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_alert_allowances_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("member_id", "day", name=op.f("pk_alert_allowances")),
    )


def downgrade() -> None:
    op.drop_table("alert_allowances")
    op.drop_index("ix_match_messages_match_created", table_name="match_messages")
    op.drop_table("match_messages")
