"""Needs: one filed for someone belongs to the organisation, and `filed_by` records who typed it

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 10:40:00.000000

Before this, a coordinator who filed a need for someone was stored as its requester, so they kept
owner rights (address, contact, edits, the accepted volunteer's phone, its audit) after losing the
role, and their reads were never audited. Now such a need has no requester: the organisation owns
it, and `filed_by_member_id` / `filed_by_key_id` record who filed it.

Which existing needs were filed for the organisation? Keys filed theirs without a requester
already (only the key's id is unknown: `filed_by_key_id` stays null for them). A member's need
names an organisation only if they were its coordinator (filing for it) or its volunteer (their
own need); the schema keeps no role history, only the membership's current role and the time it
was last set (`organization_members.updated_at`). So a need with both a requester and an
organisation moves to the organisation unless it was surely the member's own:

- it has an `external_id` (only the organisation's coordinators and keys could set one): moves;
- the requester's membership is `volunteer` and was last set no later than the need's
  `created_at` (a volunteer when they filed it): stays theirs;
- otherwise (coordinator now, a role set after the filing, or no membership any more): moves.

Doubt goes to the organisation: its coordinators already had owner rights to all its needs, so
moving one takes rights from nobody but the filer, and they keep them while a coordinator. The
rare volunteer whose own need moves (a role or vetting change after the filing) can ask a
coordinator to act on it. Matches copy their need's requester: those of moved needs lose it too.
Audit rows of moved needs whose subject was the filer lose the subject, so the filer's own audit
no longer lists who read the need; the organisation's audit keeps every row.

Downgrade gives each need with a filing member back to that member as requester (the old rule),
and their matches and subject-less audit rows with it.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NEEDS = sa.table(
    "needs",
    *(sa.column(c, sa.Uuid()) for c in ("id", "requester_id", "organization_id", "filed_by_member_id")),
    sa.column("external_id", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
_MEMBERSHIPS = sa.table(
    "organization_members",
    *(sa.column(c, sa.Uuid()) for c in ("organization_id", "member_id")),
    sa.column("role", sa.String()),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
_MATCHES = sa.table("matches", *(sa.column(c, sa.Uuid()) for c in ("need_id", "requester_id")))
_AUDIT = sa.table("audit_events", *(sa.column(c, sa.Uuid()) for c in ("need_id", "subject_member_id")))


def upgrade() -> None:
    with op.batch_alter_table("needs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("filed_by_member_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("filed_by_key_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_needs_filed_by_member_id_members"), "members", ["filed_by_member_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_needs_filed_by_key_id_api_keys"), "api_keys", ["filed_by_key_id"], ["id"]
        )
    _move_to_organizations()


def _move_to_organizations() -> None:
    bind = op.get_bind()
    n = _NEEDS.c
    own_as_volunteer = sa.exists().where(
        _MEMBERSHIPS.c.organization_id == n.organization_id,
        _MEMBERSHIPS.c.member_id == n.requester_id,
        _MEMBERSHIPS.c.role == "volunteer",
        _MEMBERSHIPS.c.updated_at <= n.created_at,
    )
    bind.execute(
        _NEEDS.update()
        .where(
            n.organization_id.is_not(None),
            n.requester_id.is_not(None),
            sa.or_(n.external_id.is_not(None), ~own_as_volunteer),
        )
        .values(filed_by_member_id=n.requester_id)
    )
    # Still holding the filer as requester here: what pointed at them through the need follows.
    moved = sa.select(n.id).where(n.filed_by_member_id.is_not(None), n.requester_id.is_not(None))
    bind.execute(_MATCHES.update().where(_MATCHES.c.need_id.in_(moved)).values(requester_id=None))
    filer_was_subject = sa.exists().where(
        n.id == _AUDIT.c.need_id,
        n.filed_by_member_id.is_not(None),
        n.requester_id == _AUDIT.c.subject_member_id,
    )
    bind.execute(_AUDIT.update().where(filer_was_subject).values(subject_member_id=None))
    bind.execute(
        _NEEDS.update()
        .where(n.filed_by_member_id.is_not(None), n.requester_id.is_not(None))
        .values(requester_id=None)
    )


def downgrade() -> None:
    bind = op.get_bind()
    n = _NEEDS.c
    filer = sa.select(n.filed_by_member_id).where(n.id == _MATCHES.c.need_id).scalar_subquery()
    filed = sa.select(n.id).where(n.filed_by_member_id.is_not(None))
    bind.execute(
        _MATCHES.update()
        .where(_MATCHES.c.need_id.in_(filed), _MATCHES.c.requester_id.is_(None))
        .values(requester_id=filer)
    )
    audit_filer = sa.select(n.filed_by_member_id).where(n.id == _AUDIT.c.need_id).scalar_subquery()
    bind.execute(
        _AUDIT.update()
        .where(_AUDIT.c.need_id.in_(filed), _AUDIT.c.subject_member_id.is_(None))
        .values(subject_member_id=audit_filer)
    )
    bind.execute(
        _NEEDS.update()
        .where(n.filed_by_member_id.is_not(None), n.requester_id.is_(None))
        .values(requester_id=n.filed_by_member_id)
    )
    with op.batch_alter_table("needs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_needs_filed_by_key_id_api_keys"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_needs_filed_by_member_id_members"), type_="foreignkey")
        batch_op.drop_column("filed_by_key_id")
        batch_op.drop_column("filed_by_member_id")
