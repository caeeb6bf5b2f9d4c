"""What the members domain asks of the outbox, which sits above it.

Account mail (a reset link, a verification link) goes out through the one outbox the webhook
worker drains; the webhooks domain resolves callers through members, so members must not import
it: `app.main.connect_domains` connects `app.webhooks.outbox.queue_mail` here once.
"""

import uuid
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings


class MailQueue(Protocol):
    async def __call__(
        self,
        session: AsyncSession,
        *,
        settings: Settings,
        to: str,
        subject: str,
        text: str,
        html: str,
        kind: str,
    ) -> uuid.UUID: ...


_connected: list[MailQueue] = []


def connect(queue: MailQueue) -> None:
    _connected[:] = [queue]


def mail_queue() -> MailQueue:
    if not _connected:
        raise RuntimeError("The outbox is not connected to members: app.main.create_app connects it.")
    return _connected[0]
