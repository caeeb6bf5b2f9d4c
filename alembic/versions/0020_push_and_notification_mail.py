"""Web Push subscriptions and their outbox messages, the service's own keys, mail header fields

Revision ID: 0020
Revises: 0017
Create Date: 2026-11-30 13:30:19.904536

`push_subscriptions` holds each browser's Web Push subscription (endpoint unique); a push waiting
in the outbox is a `push_messages` row named by a delivery of channel `push`, and both go with
their subscription (ON DELETE CASCADE). The CHECK on deliveries now admits the third channel.
`server_keys` keeps a key the service made itself (VAPID, when none is configured).
`mail_messages.headers` carries extra header fields (List-Unsubscribe); `event_type` widens to
48 characters for `mail.<notification type>`. Downgrade drops push deliveries (the old schema
cannot hold them).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

from alembic import op

revision: str = "0020"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TWO_CHANNELS = (
    "(channel = 'webhook' AND event_id IS NOT NULL AND endpoint_id IS NOT NULL AND mail_id IS NULL)"
    " OR (channel = 'mail' AND mail_id IS NOT NULL AND event_id IS NULL AND endpoint_id IS NULL)"
)
THREE_CHANNELS = (
    "(channel = 'webhook' AND event_id IS NOT NULL AND endpoint_id IS NOT NULL AND mail_id IS NULL"
    " AND push_id IS NULL)"
    " OR (channel = 'mail' AND mail_id IS NOT NULL AND event_id IS NULL AND endpoint_id IS NULL"
    " AND push_id IS NULL)"
    " OR (channel = 'push' AND push_id IS NOT NULL AND event_id IS NULL AND endpoint_id IS NULL"
    " AND mail_id IS NULL)"
)


def upgrade() -> None:
    op.create_table(
        "server_keys",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_server_keys")),
    )
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("endpoint", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("p256dh", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("auth", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_push_subscriptions_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_subscriptions")),
        sa.UniqueConstraint("endpoint", name=op.f("uq_push_subscriptions_endpoint")),
    )
    op.create_index(
        op.f("ix_push_subscriptions_member_id"), "push_subscriptions", ["member_id"], unique=False
    )
    op.create_table(
        "push_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["push_subscriptions.id"],
            name=op.f("fk_push_messages_subscription_id_push_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_messages")),
    )
    op.create_index(
        op.f("ix_push_messages_subscription_id"), "push_messages", ["subscription_id"], unique=False
    )

    with op.batch_alter_table("mail_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("headers", sa.JSON(), server_default="[]", nullable=False))

    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_webhook_deliveries_one_channel"), type_="check")
        batch_op.add_column(sa.Column("push_id", sa.Uuid(), nullable=True))
        batch_op.alter_column(
            "event_type",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=32),
            type_=sqlmodel.sql.sqltypes.AutoString(length=48),
            existing_nullable=False,
        )
        batch_op.create_index(batch_op.f("ix_webhook_deliveries_push_id"), ["push_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_webhook_deliveries_push_id_push_messages"),
            "push_messages",
            ["push_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_check_constraint("one_channel", THREE_CHANNELS)


def downgrade() -> None:
    op.execute("DELETE FROM webhook_deliveries WHERE channel = 'push'")
    op.execute("DELETE FROM webhook_deliveries WHERE length(event_type) > 32")
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_webhook_deliveries_one_channel"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_webhook_deliveries_push_id_push_messages"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_webhook_deliveries_push_id"))
        batch_op.alter_column(
            "event_type",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=48),
            type_=sqlmodel.sql.sqltypes.AutoString(length=32),
            existing_nullable=False,
        )
        batch_op.drop_column("push_id")
        batch_op.create_check_constraint("one_channel", TWO_CHANNELS)

    with op.batch_alter_table("mail_messages", schema=None) as batch_op:
        batch_op.drop_column("headers")

    op.drop_index(op.f("ix_push_messages_subscription_id"), table_name="push_messages")
    op.drop_table("push_messages")
    op.drop_index(op.f("ix_push_subscriptions_member_id"), table_name="push_subscriptions")
    op.drop_table("push_subscriptions")
    op.drop_table("server_keys")
