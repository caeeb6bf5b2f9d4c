"""Accounts: sessions with rotating refresh tokens, one-time mail tokens, mail in the outbox

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 11:21:32.715136

Sessions and tokens are new tables (tokens kept as sha256 only). The outbox's deliveries gain a
`channel`: existing rows are webhooks (the server default), and a mail names a `mail_messages`
row instead of an event and endpoint; a CHECK keeps each row one or the other. Downgrade drops
mail deliveries (the old schema cannot hold them) and the new tables.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ONE_CHANNEL = (
    "(channel = 'webhook' AND event_id IS NOT NULL AND endpoint_id IS NOT NULL AND mail_id IS NULL)"
    " OR (channel = 'mail' AND mail_id IS NOT NULL AND event_id IS NULL AND endpoint_id IS NULL)"
)


def upgrade() -> None:
    op.create_table(
        "mail_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("to_address", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_messages")),
    )
    op.create_table(
        "account_tokens",
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=True),
        sa.Column("purpose", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_account_tokens_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_account_tokens")),
    )
    with op.batch_alter_table("account_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_tokens_member_id"), ["member_id"], unique=False)

    op.create_table(
        "member_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("user_agent", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_member_sessions_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_sessions")),
    )
    with op.batch_alter_table("member_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_member_sessions_member_id"), ["member_id"], unique=False)

    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["member_sessions.id"],
            name=op.f("fk_refresh_tokens_session_id_member_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_refresh_tokens")),
    )
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refresh_tokens_session_id"), ["session_id"], unique=False)

    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "channel",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="webhook",
            )
        )
        batch_op.add_column(sa.Column("mail_id", sa.Uuid(), nullable=True))
        batch_op.alter_column("event_id", existing_type=sa.Uuid(), nullable=True)
        batch_op.alter_column("endpoint_id", existing_type=sa.Uuid(), nullable=True)
        batch_op.create_index(batch_op.f("ix_webhook_deliveries_mail_id"), ["mail_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_webhook_deliveries_mail_id_mail_messages"),
            "mail_messages",
            ["mail_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_check_constraint("one_channel", ONE_CHANNEL)


def downgrade() -> None:
    op.execute("DELETE FROM webhook_deliveries WHERE channel <> 'webhook'")
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_webhook_deliveries_one_channel"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_webhook_deliveries_mail_id_mail_messages"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_webhook_deliveries_mail_id"))
        batch_op.alter_column("endpoint_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.alter_column("event_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.drop_column("mail_id")
        batch_op.drop_column("channel")

    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("email_verified_at")

    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refresh_tokens_session_id"))

    op.drop_table("refresh_tokens")
    with op.batch_alter_table("member_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_member_sessions_member_id"))

    op.drop_table("member_sessions")
    with op.batch_alter_table("account_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_tokens_member_id"))

    op.drop_table("account_tokens")
    op.drop_table("mail_messages")
