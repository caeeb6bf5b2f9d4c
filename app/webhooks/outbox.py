"""Queueing mail and push in the outbox, in the caller's transaction: the worker sends after the commit.

Each queued item is a message row and a delivery row (`channel` mail or push); a fan-out of any
size is four statements. `due` is when the worker may first try it (a member's quiet hours
move it later); retries then follow the webhooks' backoff."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.encryption import key_ring
from app.core.timeutil import utcnow
from app.webhooks.models import Channel, DeliveryStatus, MailMessage, PushMessage, WebhookDelivery


@dataclass(frozen=True)
class OutgoingMail:
    to: str
    subject: str
    text: str
    html: str
    kind: str  # what it is about, in the delivery log (`mail.password_reset`)
    due: datetime | None = None  # now when None
    # Extra header fields (List-Unsubscribe, RFC 8058), stored in the message's first lines.
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class OutgoingPush:
    subscription_id: uuid.UUID
    payload: dict[str, Any]  # JSON; ids and public facts only
    kind: str  # `push.match.proposed`
    due: datetime | None = None


def _delivery(
    channel: Channel, kind: str, due: datetime, now: datetime, **target: uuid.UUID
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "channel": channel,
        "event_type": kind,
        "status": DeliveryStatus.pending,
        "attempts": 0,
        "attempt_log": [],
        "next_attempt_at": due,
        "created_at": now,
        "updated_at": now,
        **target,
    }


async def queue_mails(
    session: AsyncSession, mails: Sequence[OutgoingMail], *, settings: Settings
) -> list[uuid.UUID]:
    """Each mail to its one address; the deliveries' ids, in order. Bodies are kept sealed under
    the settings' newest data key until the worker sends them (they may hold one-time links). A
    rollback of the caller's transaction takes them all with it."""
    if not mails:
        return []
    now = utcnow()
    keys = key_ring(settings)
    ids = [uuid.uuid4() for _ in mails]
    await session.exec(
        insert(MailMessage).values(
            [
                {
                    "id": i,
                    "to_address": m.to,
                    "subject": m.subject,
                    "text_body": keys.seal(m.text),
                    "html_body": keys.seal(m.html),
                    "headers": [list(h) for h in m.headers],
                    "created_at": now,
                }
                for i, m in zip(ids, mails, strict=True)
            ]
        )
    )
    rows = [
        _delivery(Channel.mail, m.kind, m.due or now, now, mail_id=i) for i, m in zip(ids, mails, strict=True)
    ]
    await session.exec(insert(WebhookDelivery).values(rows))
    return [r["id"] for r in rows]


async def queue_mail(
    session: AsyncSession, *, settings: Settings, to: str, subject: str, text: str, html: str, kind: str
) -> uuid.UUID:
    """One message to one address, due now; `kind` (`mail.password_reset`) names it in the log.
    Its bodies are kept sealed under the settings' newest data key until the worker sends them.
    Returns the delivery's id. A rollback of the caller's transaction takes the mail with it."""
    [delivery_id] = await queue_mails(
        session, [OutgoingMail(to=to, subject=subject, text=text, html=html, kind=kind)], settings=settings
    )
    return delivery_id


async def queue_pushes(session: AsyncSession, pushes: Sequence[OutgoingPush]) -> list[uuid.UUID]:
    """Each push to its one subscription; the deliveries' ids, in order."""
    if not pushes:
        return []
    now = utcnow()
    ids = [uuid.uuid4() for _ in pushes]
    await session.exec(
        insert(PushMessage).values(
            [
                {"id": i, "subscription_id": p.subscription_id, "payload": p.payload, "created_at": now}
                for i, p in zip(ids, pushes, strict=True)
            ]
        )
    )
    rows = [
        _delivery(Channel.push, p.kind, p.due or now, now, push_id=i)
        for i, p in zip(ids, pushes, strict=True)
    ]
    await session.exec(insert(WebhookDelivery).values(rows))
    return [r["id"] for r in rows]
