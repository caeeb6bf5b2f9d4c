"""Secrets at rest sealed; organisations may require verified volunteers

Revision ID: 0021
Revises: 0017
Create Date: 2026-12-01 10:00:00.000000

Webhook signing secrets and queued mail bodies (which may hold a one-time link) were stored in
the clear: each is now sealed with the newest DATA_ENCRYPTION_KEYS key (app.core.encryption).
The secret column grows to Text, as a sealed value is longer. A value that already opens with a
configured key is left as it is, so running this over a half-sealed table seals only the rest.
The keys are read from the settings only when a plain value is found: an empty database needs none.
Downgrading opens every value again, which needs the key that sealed it.

`organizations.require_verified_email`: the organisation's needs are claimed by, and proposed
to, only volunteers who verified their address (the `email_unverified` rule of app.matching.rules).
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

from alembic import op
from app.core.config import get_settings
from app.core.encryption import KeyRing, Unreadable, key_ring

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, its sealed columns)
SEALED = (("webhook_endpoints", ("secret",)), ("mail_messages", ("text_body", "html_body")))
PAGE = 500


def _sealed_already(keys: KeyRing, value: str) -> bool:
    try:
        keys.open(value)
    except Unreadable:
        return False
    return True


def _rewrite(change: Callable[[KeyRing, str], str | None]) -> None:
    """Every sealed column's non-empty values through `change` (None: leave as is), a page at a time."""
    bind = op.get_bind()
    keys: KeyRing | None = None
    for name, columns in SEALED:
        table = sa.table(name, sa.column("id", sa.Uuid()), *(sa.column(c, sa.Text()) for c in columns))
        last = None
        while True:
            query = sa.select(table).order_by(table.c.id).limit(PAGE)
            if last is not None:
                query = query.where(table.c.id > last)
            rows = bind.execute(query).all()
            if not rows:
                break
            last = rows[-1].id
            for row in rows:
                values = {}
                for column in columns:
                    value = getattr(row, column)
                    if not value:
                        continue
                    keys = keys or key_ring(get_settings())
                    changed = change(keys, value)
                    if changed is not None:
                        values[column] = changed
                if values:
                    bind.execute(table.update().where(table.c.id == row.id).values(**values))


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.alter_column(
            "secret",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=100),
            type_=sa.Text(),
            existing_nullable=False,
        )
    _rewrite(lambda keys, value: None if _sealed_already(keys, value) else keys.seal(value))
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("require_verified_email", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("require_verified_email")
    _rewrite(lambda keys, value: keys.open(value) if _sealed_already(keys, value) else None)
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.alter_column(
            "secret",
            existing_type=sa.Text(),
            type_=sqlmodel.sql.sqltypes.AutoString(length=100),
            existing_nullable=False,
        )
