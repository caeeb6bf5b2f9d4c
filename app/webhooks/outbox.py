"""Queueing mail in the outbox, in the caller's transaction: the worker sends it after the commit."""

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.encryption import key_ring
from app.core.timeutil import utcnow
from app.webhooks.models import Channel, DeliveryStatus, MailMessage, WebhookDelivery


async def queue_mail(
    session: AsyncSession, *, settings: Settings, to: str, subject: str, text: str, html: str, kind: str
) -> uuid.UUID:
    """One message to one address, due now; `kind` (`mail.password_reset`) names it in the log.
    Its bodies are kept sealed under the settings' newest data key until the worker sends them.
    Returns the delivery's id. A rollback of the caller's transaction takes the mail with it."""
    now = utcnow()
    keys = key_ring(settings)
    message = MailMessage(
        to_address=to, subject=subject, text_body=keys.seal(text), html_body=keys.seal(html), created_at=now
    )
    session.add(message)
    await session.flush()
    delivery = WebhookDelivery(
        channel=Channel.mail,
        mail_id=message.id,
        event_type=kind,
        status=DeliveryStatus.pending,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(delivery)
    await session.flush()
    return delivery.id
