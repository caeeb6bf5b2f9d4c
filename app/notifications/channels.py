"""Mail and push for new notifications: each recipient's channels, queued in the outbox.

Called by `notify` in the same transaction as the inbox rows, so a rollback takes the mail and
push with the change; the one outbox worker (app.webhooks.worker) sends them with retries and
backoff. Per recipient, from their settings (defaults when none are stored):

- mail when `email` is on and the member has verified their address (a mail never goes to an
  address nobody proved they read: anyone may sign up with anyone's address);
- push to each of their browser subscriptions when `push` is on;
- both due at the end of their quiet hours when the notification comes inside them;
- neither for a `need.nearby` alert when the member chose a daily digest of alerts
  (`alerts.digest: daily`): the worker mails and pushes those once a day (app.notifications.digest).

Erased members get neither. A fan-out of any size is a few statements: one read of the
recipients' settings, one of their subscriptions, and two inserts per channel.
"""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.db import settings_of
from app.members.models import Member
from app.notifications.mail import render_notification
from app.notifications.models import NotificationSettings
from app.notifications.quiet import due_at
from app.notifications.unsubscribe import token_for
from app.webhooks.models import PushSubscription
from app.webhooks.outbox import OutgoingMail, OutgoingPush, queue_mails, queue_pushes

# A push message is at most 4096 bytes once encrypted (RFC 8291 4: 86 of them overhead); past
# this, the push carries the notification's id and type only, and the app reads the rest.
PUSH_PLAINTEXT_LIMIT = 3000
# The type whose mail and push a member may take as a daily digest instead.
DIGESTED = "need.nearby"


@dataclass(frozen=True)
class Recipient:
    member_id: uuid.UUID
    address: str | None  # verified, or None
    languages: list[str]
    email: bool
    push: bool
    quiet_hours: Mapping[str, Any] | None
    timezone: str
    digest: bool = False  # `alerts.digest: daily`: alerts are mailed and pushed once a day


@dataclass(frozen=True)
class Created:
    """A notification row just written: whose, and its id."""

    id: uuid.UUID
    member_id: uuid.UUID


async def recipients(session: AsyncSession, members: Sequence[uuid.UUID]) -> dict[uuid.UUID, Recipient]:
    """The channel settings of these members (erased members left out), in one query of plain
    columns (no ORM object of the caller's is touched)."""
    stored = NotificationSettings
    stmt = (
        core_select(
            col(Member.id),
            col(Member.email),
            col(Member.email_verified_at),
            col(Member.languages),
            col(stored.email),
            col(stored.push),
            col(stored.alerts),
            col(stored.timezone),
        )
        .outerjoin(stored, col(stored.member_id) == col(Member.id))
        .where(col(Member.id).in_(members), col(Member.erased_at).is_(None))
    )
    found = {}
    connection = await session.connection()
    for member_id, address, verified_at, languages, email, push, alerts, timezone in (
        await connection.execute(stmt)
    ).all():
        found[member_id] = Recipient(
            member_id=member_id,
            address=address if verified_at is not None else None,
            languages=list(languages or []),
            email=True if email is None else bool(email),  # the defaults until a member changes them
            push=bool(push),
            quiet_hours=(alerts or {}).get("quiet_hours"),
            timezone=timezone or "UTC",
            digest=(alerts or {}).get("digest") == "daily",
        )
    return found


def push_payload(
    notification_id: uuid.UUID, type: str, created_at: datetime, data: Mapping[str, Any]
) -> dict[str, Any]:
    """What a push carries: the notification as the inbox shows it (ids and public facts),
    or only its id and type when that would not fit in a push."""
    whole = {
        "id": str(notification_id),
        "type": type,
        "created_at": created_at.isoformat(),
        "data": dict(data),
    }
    if len(orjson.dumps(whole)) <= PUSH_PLAINTEXT_LIMIT:
        return whole
    return {"id": str(notification_id), "type": type, "created_at": created_at.isoformat()}


def unsubscribe_url(settings: Settings, member_id: uuid.UUID) -> str:
    """The member's one-click unsubscribe link (RFC 8058: https, and POST there takes effect)."""
    token = token_for(member_id, settings.jwt_secret)
    return f"{settings.api_url}/v1/notifications/unsubscribe?token={token}"


def _mail(
    settings: Settings, created: Created, who: Recipient, type: str, data: Mapping[str, Any], due: datetime
) -> OutgoingMail:
    assert who.address is not None
    unsubscribe = unsubscribe_url(settings, who.member_id)
    link = f"{settings.public_base_url.rstrip('/')}/notifications/{created.id}"
    rendered = render_notification(
        notification_id=str(created.id),
        type=type,
        data=data,
        languages=who.languages,
        link=link,
        unsubscribe=unsubscribe,
    )
    return OutgoingMail(
        to=who.address,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        kind=f"mail.{type}",
        due=due,
        # RFC 8058: mail clients offer "unsubscribe" and POST `List-Unsubscribe=One-Click` there.
        headers=(
            ("List-Unsubscribe", f"<{unsubscribe}>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ),
    )


async def deliver(
    session: AsyncSession, *, created: Sequence[Created], type: str, data: Mapping[str, Any], now: datetime
) -> None:
    """Queue the mail and push these new notifications call for (see the module's docstring)."""
    if not created:
        return
    settings = settings_of(session)
    found = await recipients(session, [c.member_id for c in created])
    mails: list[OutgoingMail] = []
    pushing: dict[uuid.UUID, tuple[Created, datetime]] = {}
    for row in created:
        who = found.get(row.member_id)
        if who is None or not (who.push or (who.email and who.address)):
            continue
        if type == DIGESTED and who.digest:
            continue  # the inbox and stream have it now; the daily digest mails and pushes it
        due = due_at(now, who.quiet_hours, who.timezone)
        if who.email and who.address:
            mails.append(_mail(settings, row, who, type, data, due))
        if who.push:
            pushing[row.member_id] = (row, due)
    pushes: list[OutgoingPush] = []
    if pushing:
        stmt = (
            select(PushSubscription.id, PushSubscription.member_id)
            .where(col(PushSubscription.member_id).in_(list(pushing)))
            .order_by(col(PushSubscription.created_at), col(PushSubscription.id))
        )
        for subscription_id, member_id in (await session.exec(stmt)).all():
            row, due = pushing[member_id]
            pushes.append(
                OutgoingPush(
                    subscription_id=subscription_id,
                    payload=push_payload(row.id, type, now, data),
                    kind=f"push.{type}",
                    due=due,
                )
            )
    await queue_mails(session, mails, settings=settings)
    await queue_pushes(session, pushes)
