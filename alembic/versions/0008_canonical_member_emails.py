"""Members: emails stored in canonical form, so every way to write an address is one account

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 08:30:00.000000

Before this, addresses were stored lowercased only: `renée@` written with a composed `é` and
with `e` plus a combining accent, or a domain as Unicode and as `xn--`, were two accounts.
Each address becomes `app.members.models.canonical_email` of itself. Where two or more accounts
share a canonical address, the oldest (by `created_at`, then id) keeps it; each newer one keeps
its password, needs, offers and matches, has `duplicate_of` set to the older account, and gets
the placeholder `DUPLICATE-<id hex>@merge.invalid`, which no login can reach (logins are
canonicalised, so lowercase; and `.invalid` can receive no mail). Nothing is deleted: a login
with the newer account's password under that address is told what happened
(app.members.service.authenticate), and operators find such accounts by `duplicate_of`.
Every rewritten row keeps its former address in `email_as_written`; downgrade restores them.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 5000
_MEMBERS = sa.table(
    "members",
    sa.column("id", sa.Uuid()),
    sa.column("email", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("duplicate_of", sa.Uuid()),
    sa.column("email_as_written", sa.String()),
)


def upgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("duplicate_of", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column("email_as_written", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_members_duplicate_of_members"), "members", ["duplicate_of"], ["id"]
        )
    _canonicalise()


def placeholder(member_id: Any) -> str:
    return f"DUPLICATE-{member_id.hex}@merge.invalid"


def _canonicalise() -> None:
    """Only rows not yet canonical can change or collide: those are read in full (few, in
    practice), the rest a page at a time; then the rows already holding their targets."""
    from app.members.models import canonical_email

    bind = op.get_bind()
    groups: dict[str, list[Any]] = {}
    last = None
    while True:
        page = sa.select(_MEMBERS.c.id, _MEMBERS.c.email, _MEMBERS.c.created_at).order_by(_MEMBERS.c.id)
        rows = bind.execute((page if last is None else page.where(_MEMBERS.c.id > last)).limit(CHUNK)).all()
        if not rows:
            break
        for row in rows:
            target = canonical_email(row.email)
            if target != row.email:
                groups.setdefault(target, []).append(row)
        last = rows[-1].id
    targets = list(groups)
    for i in range(0, len(targets), 500):
        holders = sa.select(_MEMBERS.c.id, _MEMBERS.c.email, _MEMBERS.c.created_at).where(
            _MEMBERS.c.email.in_(targets[i : i + 500])
        )
        for row in bind.execute(holders):
            groups[row.email].append(row)
    moved, kept = [], []
    for target, rows in groups.items():
        rows.sort(key=lambda r: (r.created_at, str(r.id)))
        oldest, newer = rows[0], rows[1:]
        moved += [
            {"row_id": r.id, "new_email": placeholder(r.id), "former": r.email, "oldest": oldest.id}
            for r in newer
        ]
        if oldest.email != target:
            kept.append({"row_id": oldest.id, "new_email": target, "former": oldest.email, "oldest": None})
    # The newer ones leave the address before the oldest takes it: the unique index holds throughout.
    update = (
        _MEMBERS.update()
        .where(_MEMBERS.c.id == sa.bindparam("row_id"))
        .values(
            email=sa.bindparam("new_email"),
            email_as_written=sa.bindparam("former"),
            duplicate_of=sa.bindparam("oldest"),
        )
    )
    for batch in (moved, kept):
        if batch:
            bind.execute(update, batch)


def downgrade() -> None:
    bind = op.get_bind()
    restore = (
        _MEMBERS.update().where(_MEMBERS.c.id == sa.bindparam("row_id")).values(email=sa.bindparam("former"))
    )
    # The oldest accounts give the canonical address back before the newer ones take theirs.
    for flagged in (False, True):
        rows = bind.execute(
            sa.select(_MEMBERS.c.id, _MEMBERS.c.email_as_written).where(
                _MEMBERS.c.email_as_written.is_not(None),
                _MEMBERS.c.duplicate_of.is_not(None) if flagged else _MEMBERS.c.duplicate_of.is_(None),
            )
        ).all()
        if rows:
            bind.execute(restore, [{"row_id": r.id, "former": r.email_as_written} for r in rows])
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_members_duplicate_of_members"), type_="foreignkey")
        batch_op.drop_column("email_as_written")
        batch_op.drop_column("duplicate_of")
