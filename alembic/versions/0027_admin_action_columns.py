"""Admin actions' organisation and end in columns of their own; suspension reasons of 4,000

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-01 23:20:00.000000

`admin_actions.organization_id` (appointing a coordinator) and `admin_actions.until` (a
suspension's end) are written here rather than appended to `detail`, whose 4,000 characters are
the reason's: a full-length reason with either appended did not fit (a 500 on Postgres).
`members.suspension_reason` grows from 2,000 to the 4,000 characters a statement may have
(a longer suspension reason, or a report resolved with `suspend`, was a 500 on Postgres too).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("admin_actions") as batch:
        batch.add_column(sa.Column("organization_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("members") as batch:
        batch.alter_column(
            "suspension_reason",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=2000),
            type_=sqlmodel.sql.sqltypes.AutoString(length=4000),
            existing_nullable=True,
        )


def downgrade() -> None:
    # A reason over 2,000 characters would not fit the narrower column: its end is cut.
    op.execute(
        "UPDATE members SET suspension_reason = substr(suspension_reason, 1, 2000) "
        "WHERE length(suspension_reason) > 2000"
    )
    with op.batch_alter_table("members") as batch:
        batch.alter_column(
            "suspension_reason",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=4000),
            type_=sqlmodel.sql.sqltypes.AutoString(length=2000),
            existing_nullable=True,
        )
    with op.batch_alter_table("admin_actions") as batch:
        batch.drop_column("until")
        batch.drop_column("organization_id")
