"""Members, needs and offers; PostGIS indexes on Postgres

Revision ID: 0001
Revises:
Create Date: 2026-11-26 02:40:42.681381
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "members",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("password_hash", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
        sa.UniqueConstraint("email", name=op.f("uq_members_email")),
    )
    op.create_table(
        "needs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("requester_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("urgency", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("mode", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("contact_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("contact_phone", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("approx_lat", sa.Float(), nullable=True),
        sa.Column("approx_lon", sa.Float(), nullable=True),
        sa.Column("h3_r4", sa.BigInteger(), nullable=True),
        sa.Column("h3_r6", sa.BigInteger(), nullable=True),
        sa.Column("h3_r8", sa.BigInteger(), nullable=True),
        sa.Column("volunteers_needed", sa.Integer(), nullable=False),
        sa.Column("volunteers_accepted", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("requirements", sa.JSON(), nullable=False),
        sa.Column("visibility", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["requester_id"], ["members.id"], name=op.f("fk_needs_requester_id_members")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_needs")),
        sa.UniqueConstraint("organization_id", "external_id", name="uq_needs_organization_id_external_id"),
    )
    with op.batch_alter_table("needs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_needs_category"), ["category"], unique=False)
        batch_op.create_index("ix_needs_created_at_id", ["created_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_needs_h3_r4"), ["h3_r4"], unique=False)
        batch_op.create_index(batch_op.f("ix_needs_h3_r6"), ["h3_r6"], unique=False)
        batch_op.create_index(batch_op.f("ix_needs_h3_r8"), ["h3_r8"], unique=False)
        batch_op.create_index(batch_op.f("ix_needs_organization_id"), ["organization_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_needs_requester_id"), ["requester_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_needs_status"), ["status"], unique=False)

    op.create_table(
        "offers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("volunteer_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("modes", sa.JSON(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("approx_lat", sa.Float(), nullable=False),
        sa.Column("approx_lon", sa.Float(), nullable=False),
        sa.Column("h3_r4", sa.BigInteger(), nullable=False),
        sa.Column("h3_r6", sa.BigInteger(), nullable=False),
        sa.Column("h3_r8", sa.BigInteger(), nullable=False),
        sa.Column("max_distance_km", sa.Float(), nullable=False),
        sa.Column("availability", sa.JSON(), nullable=False),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("active_matches", sa.Integer(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["volunteer_id"], ["members.id"], name=op.f("fk_offers_volunteer_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offers")),
    )
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_offers_h3_r4"), ["h3_r4"], unique=False)
        batch_op.create_index(batch_op.f("ix_offers_h3_r6"), ["h3_r6"], unique=False)
        batch_op.create_index(batch_op.f("ix_offers_h3_r8"), ["h3_r8"], unique=False)
        batch_op.create_index(batch_op.f("ix_offers_organization_id"), ["organization_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_offers_status"), ["status"], unique=False)
        batch_op.create_index(
            "ix_offers_volunteer_id_created_at_id", ["volunteer_id", "created_at", "id"], unique=False
        )

    if op.get_bind().dialect.name == "postgresql":
        # Nearby search: expression GiST indexes on the coarse points (the only points ever
        # searched), the same expression app/spatial.py queries with.
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        for table in ("needs", "offers"):
            op.execute(
                f"CREATE INDEX ix_{table}_approx_geog ON {table} USING gist "
                "((ST_SetSRID(ST_MakePoint(approx_lon, approx_lat), 4326)::geography))"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_offers_approx_geog")
        op.execute("DROP INDEX IF EXISTS ix_needs_approx_geog")
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_index("ix_offers_volunteer_id_created_at_id")
        batch_op.drop_index(batch_op.f("ix_offers_status"))
        batch_op.drop_index(batch_op.f("ix_offers_organization_id"))
        batch_op.drop_index(batch_op.f("ix_offers_h3_r8"))
        batch_op.drop_index(batch_op.f("ix_offers_h3_r6"))
        batch_op.drop_index(batch_op.f("ix_offers_h3_r4"))

    op.drop_table("offers")
    with op.batch_alter_table("needs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_needs_status"))
        batch_op.drop_index(batch_op.f("ix_needs_requester_id"))
        batch_op.drop_index(batch_op.f("ix_needs_organization_id"))
        batch_op.drop_index(batch_op.f("ix_needs_h3_r8"))
        batch_op.drop_index(batch_op.f("ix_needs_h3_r6"))
        batch_op.drop_index(batch_op.f("ix_needs_h3_r4"))
        batch_op.drop_index("ix_needs_created_at_id")
        batch_op.drop_index(batch_op.f("ix_needs_category"))

    op.drop_table("needs")
    op.drop_table("members")
