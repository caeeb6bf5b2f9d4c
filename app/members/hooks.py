"""What the members domain asks of the domains above it.

Account mail (a reset link, a verification link) goes out through the one outbox the webhook
worker drains; the webhooks domain resolves callers through members, so members must not import
it: `app.main.connect_domains` connects `app.webhooks.outbox.queue_mail` here once.

A new password (changed, or reset through a mailed link) ends every way into the account that a
holder of the old one could have opened without it: besides sessions and one-time links (this
domain's), the calendar feed's URL and the browsers' push subscriptions, which live above it.
`app.main.connect_domains` connects their handlers (`connect_new_password`).
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


class Revoke(Protocol):
    async def __call__(self, session: AsyncSession, *, member_id: uuid.UUID) -> None: ...


_on_new_password: list[Revoke] = []


def connect_new_password(*handlers: Revoke) -> None:
    _on_new_password[:] = handlers


def on_new_password() -> list[Revoke]:
    """The handlers a new password calls, in the password's transaction. Unconnected, a new
    password would leave those ways in open: it fails instead."""
    if not _on_new_password:
        raise RuntimeError("Nothing ends a member's other credentials: app.main.create_app connects it.")
    return list(_on_new_password)
