"""Activities (group gatherings) and their participants

Revision ID: 0015
Revises: 0011
Create Date: 2026-11-30 10:38:35.171253

An activity keeps its exact point and its coarse stand-in with the stand-in's H3 cells (indexed,
for SQLite's radius search) like needs and offers; on Postgres an expression GiST index on the
stand-in, the expression app/spatial.py queries with. `confirmed_count` is kept within
`capacity` by a CHECK. A participant's integer `seq` is the order of arrival (the waitlist's).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

from alembic import op

revision: str = "0015"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "activities",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("host_id", sa.Uuid(), nullable=True),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("mode", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("approx_lat", sa.Float(), nullable=True),
        sa.Column("approx_lon", sa.Float(), nullable=True),
        sa.Column("h3_r4", sa.BigInteger(), nullable=True),
        sa.Column("h3_r6", sa.BigInteger(), nullable=True),
        sa.Column("h3_r8", sa.BigInteger(), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("recurrence_rule", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("recurrence_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("occurrence_count", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("confirmed_count", sa.Integer(), nullable=False),
        sa.Column("waitlisted_count", sa.Integer(), nullable=False),
        sa.Column("accessibility", sa.JSON(), nullable=False),
        sa.Column("accessibility_mask", sa.Integer(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "confirmed_count >= 0 AND (capacity IS NULL OR confirmed_count <= capacity)",
            name=op.f("ck_activities_capacity"),
        ),
        sa.CheckConstraint("waitlisted_count >= 0", name=op.f("ck_activities_waitlist")),
        sa.ForeignKeyConstraint(["host_id"], ["members.id"], name=op.f("fk_activities_host_id_members")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_activities_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activities")),
    )
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_activities_h3_r4"), ["h3_r4"], unique=False)
        batch_op.create_index(batch_op.f("ix_activities_h3_r6"), ["h3_r6"], unique=False)
        batch_op.create_index(batch_op.f("ix_activities_h3_r8"), ["h3_r8"], unique=False)
        batch_op.create_index(batch_op.f("ix_activities_host_id"), ["host_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_activities_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_activities_last_ends_at"), ["last_ends_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_activities_organization_id"), ["organization_id"], unique=False)
        batch_op.create_index("ix_activities_starts_at_id", ["starts_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_activities_status"), ["status"], unique=False)

    op.create_table(
        "activity_participants",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("activity_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activities.id"],
            name=op.f("fk_activity_participants_activity_id_activities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_activity_participants_member_id_members")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_activity_participants")),
        sa.UniqueConstraint("activity_id", "member_id", name="uq_activity_participants_activity_member"),
    )
    with op.batch_alter_table("activity_participants", schema=None) as batch_op:
        batch_op.create_index(
            "ix_activity_participants_activity_status_seq", ["activity_id", "status", "seq"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_activity_participants_member_id"), ["member_id"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        op.execute(
            "CREATE INDEX ix_activities_approx_geog ON activities USING gist "
            "((ST_SetSRID(ST_MakePoint(approx_lon, approx_lat), 4326)::geography))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_activities_approx_geog")
    with op.batch_alter_table("activity_participants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activity_participants_member_id"))
        batch_op.drop_index("ix_activity_participants_activity_status_seq")

    op.drop_table("activity_participants")
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activities_status"))
        batch_op.drop_index("ix_activities_starts_at_id")
        batch_op.drop_index(batch_op.f("ix_activities_organization_id"))
        batch_op.drop_index(batch_op.f("ix_activities_last_ends_at"))
        batch_op.drop_index(batch_op.f("ix_activities_kind"))
        batch_op.drop_index(batch_op.f("ix_activities_host_id"))
        batch_op.drop_index(batch_op.f("ix_activities_h3_r8"))
        batch_op.drop_index(batch_op.f("ix_activities_h3_r6"))
        batch_op.drop_index(batch_op.f("ix_activities_h3_r4"))

    op.drop_table("activities")
