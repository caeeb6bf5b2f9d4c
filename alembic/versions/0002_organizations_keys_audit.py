"""Organisations, memberships, API keys and the audit trail; partner-filed needs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 02:53:08.098834
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("area_lat", sa.Float(), nullable=True),
        sa.Column("area_lon", sa.Float(), nullable=True),
        sa.Column("area_radius_km", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("prefix", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("key_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["created_by"], ["members.id"], name=op.f("fk_api_keys_created_by_members")),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_api_keys_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_organization_id"), ["organization_id"], unique=False)

    op.create_table(
        "organization_members",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("vetted", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_organization_members_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_organization_members_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("organization_id", "member_id", name=op.f("pk_organization_members")),
    )
    with op.batch_alter_table("organization_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_organization_members_member_id"), ["member_id"], unique=False)

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("need_id", sa.Uuid(), nullable=False),
        sa.Column("subject_member_id", sa.Uuid(), nullable=True),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("actor_member_id", sa.Uuid(), nullable=True),
        sa.Column("actor_key_id", sa.Uuid(), nullable=True),
        sa.Column("actor_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_key_id"], ["api_keys.id"], name=op.f("fk_audit_events_actor_key_id_api_keys")
        ),
        sa.ForeignKeyConstraint(
            ["actor_member_id"], ["members.id"], name=op.f("fk_audit_events_actor_member_id_members")
        ),
        sa.ForeignKeyConstraint(["need_id"], ["needs.id"], name=op.f("fk_audit_events_need_id_needs")),
        sa.ForeignKeyConstraint(
            ["subject_member_id"], ["members.id"], name=op.f("fk_audit_events_subject_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audit_events_organization_at", ["organization_id", "at", "id"], unique=False
        )
        batch_op.create_index("ix_audit_events_subject_at", ["subject_member_id", "at", "id"], unique=False)

    with op.batch_alter_table("needs", schema=None) as batch_op:
        batch_op.alter_column("requester_id", existing_type=sa.Uuid(), nullable=True)
        batch_op.create_foreign_key(
            batch_op.f("fk_needs_organization_id_organizations"), "organizations", ["organization_id"], ["id"]
        )

    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_offers_organization_id_organizations"),
            "organizations",
            ["organization_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_offers_organization_id_organizations"), type_="foreignkey")

    with op.batch_alter_table("needs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_needs_organization_id_organizations"), type_="foreignkey")
        batch_op.alter_column("requester_id", existing_type=sa.Uuid(), nullable=False)

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_subject_at")
        batch_op.drop_index("ix_audit_events_organization_at")

    op.drop_table("audit_events")
    with op.batch_alter_table("organization_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organization_members_member_id"))

    op.drop_table("organization_members")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_organization_id"))

    op.drop_table("api_keys")
    op.drop_table("organizations")
