"""Webhooks: organisations' endpoints, the outbox of events, and one delivery per event and endpoint."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import HttpUrl, UrlConstraints
from sqlalchemy import JSON, CheckConstraint, Column, Index, Text, text
from sqlmodel import Field, SQLModel

import app.core.metadata  # noqa: F401  (naming convention first)
from app.core.encryption import SEALED
from app.core.schema import RequestBody, request_config
from app.core.timeutil import UTCDateTime, utcnow


class EventType(StrEnum):
    need_created = "need.created"
    need_updated = "need.updated"
    need_cancelled = "need.cancelled"
    match_proposed = "match.proposed"
    match_accepted = "match.accepted"
    match_declined = "match.declined"
    match_completed = "match.completed"
    match_cancelled = "match.cancelled"
    activity_created = "activity.created"
    activity_updated = "activity.updated"
    activity_cancelled = "activity.cancelled"


class EndpointStatus(StrEnum):
    active = "active"
    disabled = "disabled"  # the receiver answered 410 Gone: nothing more is sent


class DeliveryStatus(StrEnum):
    pending = "pending"  # due at next_attempt_at (or being attempted)
    delivered = "delivered"  # the receiver answered 2xx
    failed = "failed"  # every attempt failed, or the receiver answered 410 Gone
    cancelled = "cancelled"  # its endpoint was disabled before it could be sent


MAX_URL_LENGTH = 2000
URL_PATTERN = r"^https?://([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(:[1-9][0-9]{0,3})?(/[!-~]*)?$"


class WebhookEndpoint(SQLModel, table=True):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        Index("ix_webhook_endpoints_organization_created", "organization_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    url: str = Field(max_length=MAX_URL_LENGTH)
    events: list[str] = Field(sa_column=Column(JSON, nullable=False))
    # Signing needs the secret itself, so unlike an API key it cannot be stored as a hash: it is
    # kept sealed (app.core.encryption), and only the worker opens it, to sign.
    secret: str = Field(sa_type=Text, sa_column_kwargs={"info": SEALED})
    status: str = Field(default=EndpointStatus.active, max_length=16)
    disabled_reason: str | None = Field(default=None, max_length=200)
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_by_member_id: uuid.UUID | None = Field(default=None, foreign_key="members.id")
    created_by_key_id: uuid.UUID | None = Field(default=None, foreign_key="api_keys.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class WebhookEvent(SQLModel, table=True):
    """The outbox: written in the transaction of the change it describes, so a rollback takes it too."""

    __tablename__ = "webhook_events"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    type: str = Field(max_length=32)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Channel(StrEnum):
    webhook = "webhook"  # an event to an endpoint
    mail = "mail"  # a message to an address
    push = "push"  # a Web Push message to a browser's subscription


class MailMessage(SQLModel, table=True):
    """A message waiting in the outbox, rendered when it was queued. Its bodies may hold a
    one-time link, so they are kept sealed (app.core.encryption) and blanked once the delivery
    ends, sent or failed."""

    __tablename__ = "mail_messages"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    to_address: str = Field(max_length=320)
    subject: str = Field(max_length=200)
    text_body: str = Field(sa_type=Text, nullable=False, sa_column_kwargs={"info": SEALED})
    html_body: str = Field(sa_type=Text, nullable=False, sa_column_kwargs={"info": SEALED})
    # Header fields beyond From/To/Subject, as [name, value] pairs (List-Unsubscribe, RFC 8058).
    headers: list[list[str]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class PushSubscription(SQLModel, table=True):
    """A browser's Web Push subscription (the W3C Push API's `PushSubscription.toJSON()`): where
    its push service takes messages for it, and the keys they are encrypted to (RFC 8291).

    The endpoint is a capability URL (whoever knows it may post to that browser), so it is
    unique: the same browser subscribing again, under any account, moves the row to that account.
    Like an endpoint for webhooks, it is the push channel's target: the worker removes it when
    the push service answers 404 or 410 (RFC 8030 8.3: the subscription has expired)."""

    __tablename__ = "push_subscriptions"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    member_id: uuid.UUID = Field(foreign_key="members.id", ondelete="CASCADE", index=True)
    endpoint: str = Field(max_length=MAX_URL_LENGTH, unique=True)
    # The browser's P-256 public key (65 bytes, uncompressed) and 16-byte auth secret, base64url.
    p256dh: str = Field(max_length=100)
    auth: str = Field(max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class PushMessage(SQLModel, table=True):
    """A push waiting in the outbox for one subscription: the plaintext JSON (a notification's
    ids and public facts only), encrypted to the subscription's keys at each attempt. It goes
    with its subscription (a removed subscription is never pushed to)."""

    __tablename__ = "push_messages"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    subscription_id: uuid.UUID = Field(foreign_key="push_subscriptions.id", ondelete="CASCADE", index=True)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class ServerKey(SQLModel, table=True):
    """A key the service made for itself because none was configured (the VAPID key pair): made
    once by whichever process needs it first, then read by every process. `secret` is sealed
    (app.core.encryption), so `python -m app secrets rotate` re-seals it with the rest."""

    __tablename__ = "server_keys"

    name: str = Field(primary_key=True, max_length=32)
    secret: str = Field(sa_type=Text, nullable=False, sa_column_kwargs={"info": SEALED})
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


_PENDING_SQL = "status = 'pending'"
# Each delivery is a webhook (an event to an endpoint), a mail or a push, never a mix.
ONE_CHANNEL_SQL = (
    "(channel = 'webhook' AND event_id IS NOT NULL AND endpoint_id IS NOT NULL AND mail_id IS NULL"
    " AND push_id IS NULL)"
    " OR (channel = 'mail' AND mail_id IS NOT NULL AND event_id IS NULL AND endpoint_id IS NULL"
    " AND push_id IS NULL)"
    " OR (channel = 'push' AND push_id IS NOT NULL AND event_id IS NULL AND endpoint_id IS NULL"
    " AND mail_id IS NULL)"
)


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The worker's claim reads only due pending rows; the partial index holds nothing else.
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            sqlite_where=text(_PENDING_SQL),
            postgresql_where=text(_PENDING_SQL),
        ),
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at", "id"),
        CheckConstraint(ONE_CHANNEL_SQL, name="one_channel"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # One outbox for every channel: a webhook names its event and endpoint, a mail its message.
    channel: str = Field(
        default=Channel.webhook, max_length=16, sa_column_kwargs={"server_default": "webhook"}
    )
    event_id: uuid.UUID | None = Field(
        default=None, foreign_key="webhook_events.id", ondelete="CASCADE", index=True
    )
    # Deleting an endpoint deletes its log in the same statement; an emitter that read the
    # endpoint holds a shared lock on it, so the delete waits for that change to commit.
    endpoint_id: uuid.UUID | None = Field(
        default=None, foreign_key="webhook_endpoints.id", ondelete="CASCADE"
    )
    mail_id: uuid.UUID | None = Field(
        default=None, foreign_key="mail_messages.id", ondelete="CASCADE", index=True
    )
    push_id: uuid.UUID | None = Field(
        default=None, foreign_key="push_messages.id", ondelete="CASCADE", index=True
    )
    # The event's type, or for a mail or push what it is about (`mail.password_reset`,
    # `mail.match.proposed`, `push.match.proposed`).
    event_type: str = Field(max_length=48)
    status: str = Field(default=DeliveryStatus.pending, max_length=16)
    attempts: int = 0
    # While an attempt is in flight this is its lease: if the worker dies, the row is due again then.
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The claim that may record the attempt's outcome; a stale worker's record is refused.
    claim_token: uuid.UUID | None = None
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=200)
    attempt_log: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


WebhookUrl = Annotated[HttpUrl, UrlConstraints(max_length=MAX_URL_LENGTH, allowed_schemes=["http", "https"])]


class WebhookCreate(RequestBody):
    model_config = request_config(
        {"url": "https://partner.example.org/hooks/mutual-aid", "events": ["need.created", "match.accepted"]}
    )

    url: WebhookUrl = Field(
        description="Absolute http(s) URL on a public address; no user:password.",
        # What the URL parser accepts, stated for clients and schema-driven tests: a host name
        # (or dotted address), an optional port, no credentials.
        schema_extra={"json_schema_extra": {"pattern": URL_PATTERN}},
    )
    events: Annotated[list[EventType], Field(min_length=1, max_length=len(EventType))]


class CreatedBy(SQLModel):
    """Who subscribed an endpoint: a coordinator of the organisation at the time, or one of its keys."""

    kind: Literal["member", "api_key"] = Field(
        description="`member`: a coordinator of the organisation at the time; `api_key`: one of its keys."
    )
    id: uuid.UUID = Field(description="The member's id, or the API key's id (as listed under api-keys).")

    @classmethod
    def of(cls, endpoint: "WebhookEndpoint") -> "CreatedBy | None":
        if endpoint.created_by_member_id is not None:
            return cls(kind="member", id=endpoint.created_by_member_id)
        if endpoint.created_by_key_id is not None:
            return cls(kind="api_key", id=endpoint.created_by_key_id)
        return None


class WebhookPublic(SQLModel):
    """An endpoint as listed: never its secret. An endpoint is the organisation's: it keeps
    delivering when whoever subscribed it steps down (as an organisation's webhooks do on the
    usual platforms), so `created_by` lets the remaining coordinators tell whose endpoints they
    are, and delete any they do not recognise."""

    id: uuid.UUID
    url: str
    events: list[EventType]
    status: EndpointStatus
    disabled_reason: str | None
    disabled_at: datetime | None
    created_by: CreatedBy | None = Field(
        description="Who subscribed it (recorded for every endpoint this service subscribes)."
    )
    created_at: datetime

    @classmethod
    def of(cls, endpoint: "WebhookEndpoint") -> "WebhookPublic":
        data = {name: getattr(endpoint, name) for name in cls.model_fields if name != "created_by"}
        return cls.model_validate({**data, "created_by": CreatedBy.of(endpoint)})


class WebhookCreated(WebhookPublic):
    secret: str = Field(
        description="Standard Webhooks signing secret (`whsec_...`). Shown in this response only."
    )


class AttemptPublic(SQLModel):
    at: datetime
    status_code: int | None = Field(description="The receiver's HTTP status; null if none came back.")
    error: str | None
    duration_ms: float


class DeliveryPublic(SQLModel):
    id: uuid.UUID
    event_id: uuid.UUID
    event_type: EventType
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None = Field(description="When the next attempt is due, while pending.")
    delivered_at: datetime | None
    created_at: datetime
    attempt_log: list[AttemptPublic] = Field(description="Every attempt so far, oldest first.")


class NeedEventData(SQLModel):
    organization_id: uuid.UUID
    need_id: uuid.UUID
    status: str = Field(description="The need's status after the change.")


class CancelReason(StrEnum):
    """Why the service itself ended a match: says that it ended, never whose doing it was."""

    unavailable = "unavailable"  # one side can no longer take part (a block, for one)


class MatchEventData(NeedEventData):
    match_id: uuid.UUID
    offer_id: uuid.UUID
    status: str = Field(description="The match's status after the change.")
    reason: CancelReason | None = Field(
        default=None,
        description="On `match.cancelled` that neither side asked for: `unavailable`. Absent otherwise.",
    )


class ActivityEventData(SQLModel):
    organization_id: uuid.UUID
    activity_id: uuid.UUID
    status: str = Field(description="The activity's status after the change.")


class EventPayload(SQLModel):
    """What a receiver gets: ids and a status, never personal data; fetch the record for more."""

    type: EventType
    timestamp: datetime = Field(description="When the change happened.")
    data: NeedEventData | MatchEventData | ActivityEventData
