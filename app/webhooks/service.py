"""Webhook rules: organisations' endpoints, their delivery logs, and emitting events into the outbox."""

import base64
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.callers import Caller
from app.core.crud import newest_first, page_of
from app.core.encryption import KeyRing
from app.core.errors import Conflict, Invalid, NotFound
from app.core.timeutil import utcnow
from app.organizations import service as organizations
from app.webhooks.models import (
    MAX_URL_LENGTH,
    CancelReason,
    Channel,
    DeliveryStatus,
    EndpointStatus,
    EventType,
    WebhookCreate,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from app.webhooks.targets import TargetRefused, check_host

# Every event fans out to each subscribed endpoint: a bound keeps one change a bounded write.
MAX_ENDPOINTS = 20
SECRET_PREFIX = "whsec_"  # noqa: S105  (the format's name, not a secret)


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _check_url(data: WebhookCreate, *, allow_private: bool) -> None:
    if len(str(data.url)) > MAX_URL_LENGTH:
        # What is stored and called is the URL's normal form, which may be longer than what was
        # sent (spaces and quotes percent-encoded, an international host in its ASCII form).
        raise Invalid(
            f"The URL is over {MAX_URL_LENGTH} characters once normalised (RFC 3986 percent-encoding, "
            "an international host name in its ASCII form).",
            loc=["body", "url"],
        )
    if data.url.username is not None or data.url.password is not None:
        raise Invalid("The URL must not carry a user name or password.", loc=["body", "url"])
    if allow_private or data.url.host is None:
        return
    try:
        check_host(data.url.host)
    except TargetRefused:
        raise Invalid(
            "The URL names a private, loopback or otherwise non-public address.", loc=["body", "url"]
        ) from None


async def create_endpoint(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    caller: Caller,
    data: WebhookCreate,
    allow_private: bool,
    keys: KeyRing,
) -> tuple[WebhookEndpoint, str]:
    """The endpoint, and its signing secret in the clear (for this response only: the row
    holds it sealed under `keys`' newest key)."""
    _check_url(data, allow_private=allow_private)
    # Serialise creates per organisation, so two at once cannot pass the limit together.
    await organizations.lock_organization(session, organization_id=organization_id)
    count = await session.exec(
        select(func.count())
        .select_from(WebhookEndpoint)
        .where(col(WebhookEndpoint.organization_id) == organization_id)
    )
    if count.one() >= MAX_ENDPOINTS:
        raise Conflict(f"An organization may have at most {MAX_ENDPOINTS} webhook endpoints.")
    secret = new_secret()
    endpoint = WebhookEndpoint(
        organization_id=organization_id,
        url=str(data.url),
        events=list(dict.fromkeys(str(e) for e in data.events)),
        secret=keys.seal(secret),
        created_by_member_id=caller.member_id,
        created_by_key_id=caller.key_id,
    )
    session.add(endpoint)
    await session.flush()
    return endpoint, secret


async def list_endpoints(session: AsyncSession, *, organization_id: uuid.UUID) -> list[WebhookEndpoint]:
    stmt = (
        select(WebhookEndpoint)
        .where(col(WebhookEndpoint.organization_id) == organization_id)
        .order_by(col(WebhookEndpoint.created_at).desc(), col(WebhookEndpoint.id).desc())
    )
    return list((await session.exec(stmt)).all())


async def get_endpoint(
    session: AsyncSession, *, organization_id: uuid.UUID, endpoint_id: uuid.UUID
) -> WebhookEndpoint:
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.organization_id != organization_id:
        raise NotFound("No such webhook endpoint in this organization.")
    return endpoint


async def delete_endpoint(
    session: AsyncSession, *, organization_id: uuid.UUID, endpoint_id: uuid.UUID
) -> None:
    """The endpoint and its delivery log go at once; nothing more is sent to it."""
    result = await session.exec(
        delete(WebhookEndpoint).where(
            col(WebhookEndpoint.id) == endpoint_id, col(WebhookEndpoint.organization_id) == organization_id
        )
    )
    if result.rowcount != 1:
        raise NotFound("No such webhook endpoint in this organization.")


async def list_deliveries(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    status: DeliveryStatus | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[WebhookDelivery], str | None]:
    await get_endpoint(session, organization_id=organization_id, endpoint_id=endpoint_id)
    stmt = select(WebhookDelivery).where(col(WebhookDelivery.endpoint_id) == endpoint_id)
    if status is not None:
        stmt = stmt.where(col(WebhookDelivery.status) == status)
    return page_of((await session.exec(newest_first(stmt, WebhookDelivery, cursor, limit))).all(), limit)


@dataclass(frozen=True)
class Event:
    """Something that happened to one of an organisation's records; ids only, never personal data."""

    type: EventType
    organization_id: uuid.UUID | None
    data: dict[str, str]


def need_event(
    type: EventType, *, organization_id: uuid.UUID | None, need_id: uuid.UUID, status: str
) -> Event:
    return Event(
        type=type,
        organization_id=organization_id,
        data={
            "organization_id": str(organization_id),
            "need_id": str(need_id),
            "status": str(status),
        },
    )


def match_event(
    type: EventType,
    *,
    organization_id: uuid.UUID | None,
    need_id: uuid.UUID,
    match_id: uuid.UUID,
    offer_id: uuid.UUID,
    status: str,
    reason: CancelReason | None = None,
) -> Event:
    """A need event's ids, plus the match's and its offer's, and why the service ended it if it did."""
    event = need_event(type, organization_id=organization_id, need_id=need_id, status=status)
    event.data.update(match_id=str(match_id), offer_id=str(offer_id))
    if reason is not None:
        event.data["reason"] = str(reason)
    return event


def activity_event(
    type: EventType, *, organization_id: uuid.UUID | None, activity_id: uuid.UUID, status: str
) -> Event:
    return Event(
        type=type,
        organization_id=organization_id,
        data={"organization_id": str(organization_id), "activity_id": str(activity_id), "status": status},
    )


async def emit(session: AsyncSession, events: Iterable[Event]) -> None:
    """Write the events and their deliveries in the caller's transaction (a request's is
    committed by its session dependency).

    Fanned out here, not in the worker: the endpoints subscribed at the moment of the change
    are the ones that hear of it, and organisations without webhooks get no rows at all."""
    owned = [e for e in events if e.organization_id is not None]
    if not owned:
        return
    # No autoflush: the caller's own pending rows must fail (a duplicate, a CHECK) at its commit,
    # where it handles that, not here.
    with session.no_autoflush:
        targets = await _subscribers(session, {e.organization_id for e in owned})
        now = utcnow()
        event_rows: list[dict[str, Any]] = []
        delivery_rows: list[dict[str, Any]] = []
        for event in owned:
            endpoint_ids = [
                i for i, org, kinds in targets if org == event.organization_id and event.type in kinds
            ]
            if endpoint_ids:
                event_rows.append(_event_row(event, now))
                delivery_rows += [_delivery_row(event_rows[-1], i, now) for i in endpoint_ids]
        if event_rows:
            # Statements now, not objects for the flush: events must exist before their deliveries.
            await session.exec(insert(WebhookEvent), params=event_rows)
            await session.exec(insert(WebhookDelivery), params=delivery_rows)


async def _subscribers(
    session: AsyncSession, organization_ids: set[uuid.UUID | None]
) -> list[tuple[uuid.UUID, uuid.UUID, list[str]]]:
    rows = await session.exec(
        select(WebhookEndpoint.id, WebhookEndpoint.organization_id, WebhookEndpoint.events)
        .where(
            col(WebhookEndpoint.organization_id).in_(organization_ids),
            col(WebhookEndpoint.status) == EndpointStatus.active,
        )
        # FOR SHARE (Postgres; SQLite serialises writers anyway): a DELETE of an endpoint read
        # here waits for this transaction, instead of committing in between and failing the
        # change itself on the deliveries' foreign key. Shared locks never block each other.
        .with_for_update(read=True)
    )
    return [(i, org, list(types)) for i, org, types in rows.all()]


def _event_row(event: Event, now: datetime) -> dict[str, Any]:
    stamp = now.isoformat().replace("+00:00", "Z")
    return {
        "id": uuid.uuid4(),
        "organization_id": event.organization_id,
        "type": str(event.type),
        "payload": {"type": str(event.type), "timestamp": stamp, "data": event.data},
        "created_at": now,
    }


def _delivery_row(event_row: dict[str, Any], endpoint_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "channel": Channel.webhook,
        "event_id": event_row["id"],
        "endpoint_id": endpoint_id,
        "event_type": event_row["type"],
        "status": DeliveryStatus.pending,
        "attempts": 0,
        "next_attempt_at": now,
        "attempt_log": [],
        "created_at": now,
        "updated_at": now,
    }
