"""The delivery worker: claim due deliveries (webhooks, mail, push), attempt them, record each, retry
with backoff.

Several workers can run against Postgres: a claim skips rows another worker has locked
(`FOR UPDATE SKIP LOCKED`) and leases what it takes by moving `next_attempt_at` ahead. SQLite
ignores the row locks, but serialises writers, and the claim's conditional UPDATE still lets
only one worker win a row."""

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio
import httpx
import orjson
from sqlalchemy import delete, exists, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.encryption import KeyRing, Unreadable, key_ring
from app.core.timeutil import utcnow
from app.core.transactions import commit_own
from app.webhooks.delivery import Outcome, attempt, backoff_seconds, signed_headers
from app.webhooks.mail import compose, send_mail
from app.webhooks.models import (
    DeliveryStatus,
    EndpointStatus,
    MailMessage,
    PushMessage,
    PushSubscription,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from app.webhooks.push import GONE, Push, send_push
from app.webhooks.vapid import VapidKeys, vapid_keys

log = logging.getLogger(__name__)
Sessions = async_sessionmaker[AsyncSession]


@dataclass(frozen=True)
class Mail:
    id: uuid.UUID
    to: str
    subject: str
    text: str
    html: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Claimed:
    """A webhook (endpoint and event set), a mail (`mail` set) or a push (`push` set)."""

    delivery_id: uuid.UUID
    token: uuid.UUID
    endpoint_id: uuid.UUID | None
    endpoint_active: bool
    url: str
    secret: str
    event_id: uuid.UUID | None
    payload: dict[str, Any]
    attempts: int
    attempt_log: list[dict[str, Any]]
    mail: Mail | None = None
    push: Push | None = None
    # Its sealed secret or body opened with no configured key: not sent, retried later (an
    # operator may restore the key), and the log says why.
    unreadable: bool = False


UNREADABLE = "Its secret is sealed under a key DATA_ENCRYPTION_KEYS no longer holds; not sent."


def _claimed(
    token: uuid.UUID,
    d: WebhookDelivery,
    e: WebhookEndpoint | None,
    payload: Any,
    m: MailMessage | None,
    push: Push | None,
    keys: KeyRing,
) -> Claimed:
    secret, mail, unreadable = "", None, False
    try:
        secret = keys.open(e.secret) if e else ""
        if m is not None:
            mail = Mail(
                m.id,
                m.to_address,
                m.subject,
                keys.open(m.text_body),
                keys.open(m.html_body),
                tuple((k, v) for k, v in m.headers),
            )
    except Unreadable:
        unreadable = True
    return Claimed(
        delivery_id=d.id,
        token=token,
        endpoint_id=e.id if e else None,
        # A mail has no endpoint to be disabled: it is always sent.
        endpoint_active=e is None or e.status == EndpointStatus.active,
        url=e.url if e else "",
        secret=secret,
        event_id=d.event_id,
        payload=dict(payload or {}),
        attempts=d.attempts,
        attempt_log=list(d.attempt_log),
        mail=mail,
        push=push,
        unreadable=unreadable,
    )


async def claim(sessions: Sessions, settings: Settings, now: datetime) -> list[Claimed]:
    """Take up to a batch of due deliveries for this worker alone, until their lease runs out."""
    token = uuid.uuid4()
    async with sessions() as session:
        due = (
            select(WebhookDelivery.id)
            .where(
                col(WebhookDelivery.status) == DeliveryStatus.pending,
                col(WebhookDelivery.next_attempt_at) <= now,
            )
            .order_by(col(WebhookDelivery.next_attempt_at))
            .limit(settings.webhook_batch_size)
            .with_for_update(skip_locked=True)
        )
        ids = list((await session.exec(due)).all())
        if not ids:
            await session.rollback()
            return []
        await session.exec(
            update(WebhookDelivery)
            .where(
                col(WebhookDelivery.id).in_(ids),
                col(WebhookDelivery.status) == DeliveryStatus.pending,
                col(WebhookDelivery.next_attempt_at) <= now,
            )
            .values(
                claim_token=token,
                next_attempt_at=now + timedelta(seconds=settings.webhook_lease_seconds),
            )
        )
        await commit_own(session)
        rows = await session.exec(
            select(WebhookDelivery, WebhookEndpoint, WebhookEvent.payload, MailMessage)
            .outerjoin(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
            .outerjoin(WebhookEvent, col(WebhookEvent.id) == col(WebhookDelivery.event_id))
            .outerjoin(MailMessage, col(MailMessage.id) == col(WebhookDelivery.mail_id))
            .where(col(WebhookDelivery.claim_token) == token)
        )
        claimed = rows.all()
        pushes = await _pushes(session, token) if any(d.push_id for d, *_ in claimed) else {}
        keys = key_ring(settings)
        return [_claimed(token, d, e, payload, m, pushes.get(d.id), keys) for d, e, payload, m in claimed]


async def _pushes(session: AsyncSession, token: uuid.UUID) -> dict[uuid.UUID, Push]:
    """The pushes among this claim's deliveries, with their subscriptions, by delivery id."""
    rows = await session.exec(
        select(WebhookDelivery.id, PushMessage, PushSubscription)
        .join(PushMessage, col(PushMessage.id) == col(WebhookDelivery.push_id))
        .join(PushSubscription, col(PushSubscription.id) == col(PushMessage.subscription_id))
        .where(col(WebhookDelivery.claim_token) == token)
    )
    return {
        delivery_id: Push(
            subscription_id=s.id, endpoint=s.endpoint, p256dh=s.p256dh, auth=s.auth, payload=dict(p.payload)
        )
        for delivery_id, p, s in rows.all()
    }


def _next_state(
    claimed: Claimed, outcome: Outcome, settings: Settings, now: datetime, rng: random.Random
) -> dict[str, Any]:
    attempts = claimed.attempts + 1
    entry = {
        "at": now.isoformat(),
        "status_code": outcome.status_code,
        "error": outcome.error,
        "duration_ms": outcome.duration_ms,
    }
    values: dict[str, Any] = {
        "attempts": attempts,
        "attempt_log": [*claimed.attempt_log, entry],
        "last_status_code": outcome.status_code,
        "last_error": outcome.error,
        "claim_token": None,
        "updated_at": now,
        "next_attempt_at": None,
    }
    if outcome.delivered:
        values.update(status=DeliveryStatus.delivered, delivered_at=now)
    elif outcome.gone or outcome.permanent or attempts >= settings.webhook_max_attempts:
        values["status"] = DeliveryStatus.failed
    else:
        wait = backoff_seconds(
            attempts,
            base=settings.webhook_backoff_base_seconds,
            cap=settings.webhook_backoff_cap_seconds,
            rng=rng,
        )
        values["next_attempt_at"] = now + timedelta(seconds=wait)
    return values


async def _disable(session: AsyncSession, endpoint_id: uuid.UUID, now: datetime) -> None:
    """A 410 Gone: the receiver asks for nothing more. Endpoint first, as deleting one locks it first."""
    await session.exec(
        update(WebhookEndpoint)
        .where(col(WebhookEndpoint.id) == endpoint_id, col(WebhookEndpoint.status) == EndpointStatus.active)
        .values(
            status=EndpointStatus.disabled,
            disabled_reason="The receiver answered 410 Gone.",
            disabled_at=now,
            updated_at=now,
        )
    )


async def _cancel_pending(session: AsyncSession, endpoint_id: uuid.UUID, now: datetime) -> None:
    await session.exec(
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.endpoint_id) == endpoint_id,
            col(WebhookDelivery.status) == DeliveryStatus.pending,
        )
        .values(
            status=DeliveryStatus.cancelled,
            next_attempt_at=None,
            claim_token=None,
            last_error="The endpoint was disabled; not sent.",
            updated_at=now,
        )
    )


def _held(claimed: Claimed) -> tuple[Any, ...]:
    """The delivery, while this worker's claim on it holds."""
    return (
        col(WebhookDelivery.id) == claimed.delivery_id,
        col(WebhookDelivery.claim_token) == claimed.token,
    )


async def record(
    sessions: Sessions, claimed: Claimed, outcome: Outcome, settings: Settings, rng: random.Random
) -> bool:
    """Store the attempt, if this worker's claim still holds; False when it has lapsed."""
    now = utcnow()
    async with sessions() as session:
        if outcome.gone and claimed.endpoint_id is not None:
            await _disable(session, claimed.endpoint_id, now)
        values = _next_state(claimed, outcome, settings, now, rng)
        result = await session.exec(update(WebhookDelivery).where(*_held(claimed)).values(**values))
        if result.rowcount != 1:
            # The lease ran out and another worker took the row (or the endpoint was deleted).
            await session.rollback()
            log.warning("webhook delivery %s: claim lapsed; outcome not recorded", claimed.delivery_id)
            return False
        if outcome.gone and claimed.endpoint_id is not None:
            await _cancel_pending(session, claimed.endpoint_id, now)
        if claimed.mail is not None and values["next_attempt_at"] is None:
            await _blank(session, claimed.mail.id)
        if claimed.push is not None and outcome.status_code in GONE:
            # Expired (RFC 8030 8.3): the subscription goes, and with it (cascade) every push
            # queued for it, this delivery's record included.
            await session.exec(
                delete(PushSubscription).where(col(PushSubscription.id) == claimed.push.subscription_id)
            )
        await commit_own(session)
    return True


async def _blank(session: AsyncSession, mail_id: uuid.UUID) -> None:
    """The delivery ended: its one-time link (or unsubscribe link) need not be kept at rest any longer."""
    await session.exec(
        update(MailMessage)
        .where(col(MailMessage.id) == mail_id)
        .values(text_body="", html_body="", headers=[])
    )


async def _cancel_one(sessions: Sessions, claimed: Claimed) -> None:
    """Claimed for an endpoint that was disabled meanwhile: never sent."""
    now = utcnow()
    async with sessions() as session:
        await session.exec(
            update(WebhookDelivery)
            .where(*_held(claimed))
            .values(
                status=DeliveryStatus.cancelled,
                next_attempt_at=None,
                claim_token=None,
                last_error="The endpoint was disabled; not sent.",
                updated_at=now,
            )
        )
        await commit_own(session)


async def send(
    client: httpx.AsyncClient, claimed: Claimed, settings: Settings, vapid: VapidKeys | None = None
) -> Outcome:
    if claimed.unreadable:
        log.error("delivery %s: %s", claimed.delivery_id, UNREADABLE)
        return Outcome(status_code=None, error=UNREADABLE, duration_ms=0.0)
    if claimed.mail is not None:
        return await _send_mail(claimed, claimed.mail, settings)
    if claimed.push is not None:
        if vapid is None:  # run_once read them for a batch holding a push, but none opened
            log.error("delivery %s: %s", claimed.delivery_id, UNREADABLE)
            return Outcome(status_code=None, error=UNREADABLE, duration_ms=0.0)
        return await _send_push(client, claimed, claimed.push, vapid, settings)
    body = orjson.dumps(claimed.payload)
    headers = signed_headers(secret=claimed.secret, message_id=str(claimed.event_id), body=body, at=utcnow())
    outcome = await attempt(client, url=claimed.url, headers=headers, body=body, settings=settings)
    # Ids and outcome only: the URL may hold a token of the receiver's, and the secret never leaves.
    log.info(
        "webhook delivery %s to endpoint %s, attempt %d: %s",
        claimed.delivery_id,
        claimed.endpoint_id,
        claimed.attempts + 1,
        "delivered" if outcome.delivered else outcome.error,
    )
    return outcome


async def _send_mail(claimed: Claimed, mail: Mail, settings: Settings) -> Outcome:
    message = compose(
        sender=settings.email_from,
        to=mail.to,
        subject=mail.subject,
        text=mail.text,
        html=mail.html,
        headers=mail.headers,
    )
    outcome = await send_mail(message, settings)
    # Never the address or the body: the id says which; the body holds a one-time link.
    log.info(
        "mail delivery %s, attempt %d: %s",
        claimed.delivery_id,
        claimed.attempts + 1,
        "sent" if outcome.delivered else outcome.error,
    )
    return outcome


async def _send_push(
    client: httpx.AsyncClient, claimed: Claimed, push: Push, keys: VapidKeys, settings: Settings
) -> Outcome:
    outcome = await send_push(client, push, keys, settings)
    # Never the endpoint (a capability URL) nor the payload.
    log.info(
        "push delivery %s to subscription %s, attempt %d: %s",
        claimed.delivery_id,
        push.subscription_id,
        claimed.attempts + 1,
        "delivered" if outcome.delivered else outcome.error,
    )
    return outcome


async def _keys_for(sessions: Sessions, settings: Settings, batch: list[Claimed]) -> VapidKeys | None:
    if not any(c.push is not None for c in batch):
        return None
    async with sessions() as session:
        try:
            keys = await vapid_keys(session, settings)
        except Unreadable:  # the stored key is sealed under a key no longer configured
            return None
        await commit_own(session)  # a key made now is kept
    return keys


async def run_once(
    sessions: Sessions, settings: Settings, client: httpx.AsyncClient, *, rng: random.Random | None = None
) -> int:
    """One pass: claim what is due, send it all at once, then record every outcome. Returns how many.

    Outcomes are recorded one after another, after the sends: one connection suffices, and
    SQLite (one writer) never sees two transactions of this worker at once."""
    batch = await claim(sessions, settings, utcnow())
    chooser = rng or random.Random()  # noqa: S311  (spreads retries; nothing to guess)
    outcomes: dict[uuid.UUID, Outcome] = {}
    keys = await _keys_for(sessions, settings, batch)

    async def send_into(claimed: Claimed) -> None:
        outcomes[claimed.delivery_id] = await send(client, claimed, settings, keys)

    async with anyio.create_task_group() as group:
        for claimed in batch:
            if claimed.endpoint_active:
                group.start_soon(send_into, claimed)
    for claimed in batch:
        if claimed.endpoint_active:
            await record(sessions, claimed, outcomes[claimed.delivery_id], settings, chooser)
        else:
            await _cancel_one(sessions, claimed)
    return len(batch)


async def purge_finished(sessions: Sessions, *, older_than: datetime) -> tuple[int, int]:
    """Forget deliveries that ended (delivered, failed, cancelled) before `older_than`, then the
    events and mails no delivery refers to any more. Pending deliveries are kept however old they are.
    Returns how many deliveries and events went."""
    async with sessions() as session:
        finished = await session.exec(
            delete(WebhookDelivery).where(
                col(WebhookDelivery.status) != DeliveryStatus.pending,
                col(WebhookDelivery.updated_at) < older_than,
            )
        )
        orphaned = await session.exec(
            delete(WebhookEvent).where(
                col(WebhookEvent.created_at) < older_than,
                ~exists().where(col(WebhookDelivery.event_id) == col(WebhookEvent.id)),
            )
        )
        # A mail or push is its delivery's alone: it goes with it (mail bodies were blanked when
        # it ended).
        await session.exec(
            delete(MailMessage).where(~exists().where(col(WebhookDelivery.mail_id) == col(MailMessage.id)))
        )
        await session.exec(
            delete(PushMessage).where(~exists().where(col(WebhookDelivery.push_id) == col(PushMessage.id)))
        )
        await commit_own(session)
        return int(finished.rowcount), int(orphaned.rowcount)
