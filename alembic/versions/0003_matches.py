"""Matches, the counters and CHECKs that keep slots and capacity, and bit masks for matching

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 03:09:41.340919
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "matches",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("need_id", sa.Uuid(), nullable=False),
        sa.Column("offer_id", sa.Uuid(), nullable=False),
        sa.Column("volunteer_id", sa.Uuid(), nullable=False),
        sa.Column("requester_id", sa.Uuid(), nullable=True),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("proposed_by_member_id", sa.Uuid(), nullable=True),
        sa.Column("proposed_by_key_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["need_id"], ["needs.id"], name=op.f("fk_matches_need_id_needs")),
        sa.ForeignKeyConstraint(["offer_id"], ["offers.id"], name=op.f("fk_matches_offer_id_offers")),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_matches_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["proposed_by_key_id"], ["api_keys.id"], name=op.f("fk_matches_proposed_by_key_id_api_keys")
        ),
        sa.ForeignKeyConstraint(
            ["proposed_by_member_id"], ["members.id"], name=op.f("fk_matches_proposed_by_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["members.id"], name=op.f("fk_matches_requester_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["volunteer_id"], ["members.id"], name=op.f("fk_matches_volunteer_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matches")),
    )
    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_matches_need_id"), ["need_id"], unique=False)
        batch_op.create_index("ix_matches_offer_id_status", ["offer_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_matches_organization_id"), ["organization_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_matches_requester_id"), ["requester_id"], unique=False)
        batch_op.create_index(
            "ix_matches_volunteer_id_created_at", ["volunteer_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "uq_matches_active_pair",
            ["need_id", "offer_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('proposed', 'accepted')"),
            postgresql_where=sa.text("status IN ('proposed', 'accepted')"),
        )
        batch_op.create_index(
            "uq_matches_active_volunteer",
            ["need_id", "volunteer_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('proposed', 'accepted')"),
            postgresql_where=sa.text("status IN ('proposed', 'accepted')"),
        )

    with op.batch_alter_table("needs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_distance_km", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("volunteers_completed", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("requirements_mask", sa.Integer(), nullable=False, server_default="0"))
        batch_op.create_check_constraint(
            op.f("ck_needs_slots"), "volunteers_accepted >= 0 AND volunteers_accepted <= volunteers_needed"
        )
        batch_op.create_check_constraint(
            op.f("ck_needs_completed"),
            "volunteers_completed >= 0 AND volunteers_completed <= volunteers_accepted",
        )

    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("categories_mask", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("modes_mask", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("capabilities_mask", sa.Integer(), nullable=False, server_default="0"))
        batch_op.create_check_constraint(
            op.f("ck_offers_capacity"), "active_matches >= 0 AND active_matches <= capacity"
        )
        batch_op.create_index("ix_offers_status_max_distance_km", ["status", "max_distance_km"], unique=False)

    _backfill_masks()
    if op.get_bind().dialect.name == "postgresql":
        # One KNN index per category over active offers: a need's nearest-first walk then reads
        # only offers of its category instead of stepping over every other kind of help.
        for bit in CATEGORY_INDEX_BITS:
            op.execute(
                f"CREATE INDEX IF NOT EXISTS ix_offers_geog_category_{bit} ON offers USING gist "
                "((ST_SetSRID(ST_MakePoint(approx_lon, approx_lat), 4326)::geography)) "
                f"WHERE status = 'active' AND (categories_mask & {1 << bit}) <> 0"
            )


# Frozen as they were when this revision was written, so that it does the same thing forever:
# the vocabularies' bit numbers (app.bit_numbers holds the living ones, which only grow) and the
# categories that got an index here. Later categories get theirs from later revisions (0007).
CATEGORY_INDEX_BITS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
_BITS = {
    "categories": {
        "groceries": 0,
        "meals": 1,
        "transport": 2,
        "errands": 3,
        "household": 4,
        "childcare": 5,
        "pet_care": 6,
        "companionship": 7,
        "emotional_support": 8,
        "skills": 9,
        "community_project": 10,
        "other": 11,
    },
    "modes": {"in_person": 0, "remote": 1},
    "capabilities": {
        "car": 0,
        "wheelchair_accessible_vehicle": 1,
        "heavy_lifting": 2,
        "background_checked": 3,
        "pet_friendly": 4,
        "first_aid": 5,
    },
}


def _mask(values: list[str], vocabulary: str) -> int:
    return sum(1 << _BITS[vocabulary][v] for v in set(values))


def _backfill_masks() -> None:
    """Rows written before the masks existed get them from their JSON lists."""
    bind = op.get_bind()
    offers = sa.table(
        "offers",
        sa.column("id", sa.Uuid()),
        sa.column("categories", sa.JSON()),
        sa.column("modes", sa.JSON()),
        sa.column("capabilities", sa.JSON()),
        sa.column("categories_mask", sa.Integer()),
        sa.column("modes_mask", sa.Integer()),
        sa.column("capabilities_mask", sa.Integer()),
    )
    for row in bind.execute(
        sa.select(offers.c.id, offers.c.categories, offers.c.modes, offers.c.capabilities)
    ):
        bind.execute(
            offers.update()
            .where(offers.c.id == row.id)
            .values(
                categories_mask=_mask(row.categories, "categories"),
                modes_mask=_mask(row.modes, "modes"),
                capabilities_mask=_mask(row.capabilities, "capabilities"),
            )
        )
    needs = sa.table(
        "needs",
        sa.column("id", sa.Uuid()),
        sa.column("requirements", sa.JSON()),
        sa.column("requirements_mask", sa.Integer()),
    )
    for row in bind.execute(sa.select(needs.c.id, needs.c.requirements)):
        bind.execute(
            needs.update()
            .where(needs.c.id == row.id)
            .values(requirements_mask=_mask(row.requirements, "capabilities"))
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for bit in CATEGORY_INDEX_BITS:
            op.execute(f"DROP INDEX IF EXISTS ix_offers_geog_category_{bit}")
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_index("ix_offers_status_max_distance_km")
        batch_op.drop_constraint(op.f("ck_offers_capacity"), type_="check")
        batch_op.drop_column("capabilities_mask")
        batch_op.drop_column("modes_mask")
        batch_op.drop_column("categories_mask")

    with op.batch_alter_table("needs", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_needs_completed"), type_="check")
        batch_op.drop_constraint(op.f("ck_needs_slots"), type_="check")
        batch_op.drop_column("requirements_mask")
        batch_op.drop_column("volunteers_completed")
        batch_op.drop_column("max_distance_km")

    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_matches_active_volunteer",
            sqlite_where=sa.text("status IN ('proposed', 'accepted')"),
            postgresql_where=sa.text("status IN ('proposed', 'accepted')"),
        )
        batch_op.drop_index(
            "uq_matches_active_pair",
            sqlite_where=sa.text("status IN ('proposed', 'accepted')"),
            postgresql_where=sa.text("status IN ('proposed', 'accepted')"),
        )
        batch_op.drop_index("ix_matches_volunteer_id_created_at")
        batch_op.drop_index(batch_op.f("ix_matches_requester_id"))
        batch_op.drop_index(batch_op.f("ix_matches_organization_id"))
        batch_op.drop_index("ix_matches_offer_id_status")
        batch_op.drop_index(batch_op.f("ix_matches_need_id"))

    op.drop_table("matches")
