"""Member blocks: who blocked whom, so the two never meet again

Revision ID: 0011
Revises: 0012
Create Date: 2026-11-30 10:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0011"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "member_blocks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("blocker_id", sa.Uuid(), nullable=False),
        sa.Column("blocked_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("blocker_id <> blocked_id", name=op.f("ck_member_blocks_not_self")),
        sa.ForeignKeyConstraint(
            ["blocked_id"],
            ["members.id"],
            name=op.f("fk_member_blocks_blocked_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["blocker_id"],
            ["members.id"],
            name=op.f("fk_member_blocks_blocker_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_blocks")),
        sa.UniqueConstraint("blocker_id", "blocked_id", name="uq_member_blocks_blocker_id_blocked_id"),
    )
    with op.batch_alter_table("member_blocks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_member_blocks_blocked_id"), ["blocked_id"], unique=False)
        batch_op.create_index(
            "ix_member_blocks_blocker_id_created_at_id", ["blocker_id", "created_at", "id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("member_blocks")
