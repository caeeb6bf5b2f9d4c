"""Notifications: the inbox rows, each member's delivery order, settings, and their request bodies
and views."""

import binascii
import os
import time
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import AfterValidator, Strict, StrictBool, StrictFloat, StringConstraints, model_validator
from sqlalchemy import JSON, BigInteger, Column, Index
from sqlmodel import Field, SQLModel

import app.core.metadata  # noqa: F401  (naming convention first)
from app.core.schema import WHOLE_NUMBER, RequestBody, request_config, rule_broken
from app.core.timeutil import UTCDateTime, utcnow
from app.core.types import HHMM, Timezone
from app.vocab import Category, unique
from app.webhooks.vapid import b64url_decode

# Types the service writes today; later domains add theirs (message.created, need.nearby, ...).
MATCH_TYPES = ("match.proposed", "match.accepted", "match.declined", "match.cancelled", "match.completed")


def uuid7() -> uuid.UUID:
    """A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then random bits, so ids sort by
    creation time (and index pages fill in order). Python 3.11 has no uuid7 of its own."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10)) & ((1 << 80) - 1)
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # RFC 4122 variant
    return uuid.UUID(int=value)


class Notification(SQLModel, table=True):
    """One row per recipient. `seq` numbers a member's notifications in the order they became
    visible (app.notifications.service.notify), which is what the inbox and stream page on."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_member_seq", "member_id", "seq", unique=True),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    member_id: uuid.UUID = Field(foreign_key="members.id", ondelete="CASCADE")
    seq: int = Field(sa_type=BigInteger)
    type: str = Field(max_length=40)
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class NotificationCounter(SQLModel, table=True):
    """A member's last `seq`: taking the next one locks this row until the transaction ends, so a
    member's notifications commit in `seq` order and a reader never sees n + 1 before n."""

    __tablename__ = "notification_counters"

    member_id: uuid.UUID = Field(foreign_key="members.id", primary_key=True, ondelete="CASCADE")
    last_seq: int = Field(default=0, sa_type=BigInteger)


class AlertAllowance(SQLModel, table=True):
    """How many `need.nearby` alerts a member has had on a UTC day: the daily cap is a conditional
    upsert on this row, so two needs alerting at once cannot both take the last one."""

    __tablename__ = "alert_allowances"

    member_id: uuid.UUID = Field(foreign_key="members.id", primary_key=True, ondelete="CASCADE")
    day: date = Field(primary_key=True)
    sent: int = Field(default=0)


class NeedAlert(SQLModel, table=True):
    """A volunteer told of a need by a `need.nearby` alert (app.dispatch.alerts): each volunteer
    at most once per need, however often it is made public again, and at most
    ALERTS_PER_SOURCE_PER_DAY a UTC `day` from one `source_id` (the member who filed the need:
    its requester, the coordinator who filed it, or the creator of the key that did), so no one
    filer spends a volunteer's whole day of alerts. The share is read under the volunteer's
    allowance row's lock; "once" is the primary key (app.dispatch.alerts)."""

    __tablename__ = "need_alerts"
    __table_args__ = (Index("ix_need_alerts_member_id_day_source_id", "member_id", "day", "source_id"),)

    need_id: uuid.UUID = Field(foreign_key="needs.id", primary_key=True, ondelete="CASCADE")
    member_id: uuid.UUID = Field(foreign_key="members.id", primary_key=True, ondelete="CASCADE")
    # Not a foreign key: a member's id (an erased filer's rows stay, naming nobody).
    source_id: uuid.UUID
    day: date


class AlertDigest(SQLModel, table=True):
    """A member's daily digest of `need.nearby` alerts, for one local `day`: the primary key makes
    it once per member per day, whichever worker inserts it first (INSERT ... ON CONFLICT DO
    NOTHING in the transaction that queues its mail and push). `alerts` is how many it listed
    (0: there was nothing to send)."""

    __tablename__ = "alert_digests"

    member_id: uuid.UUID = Field(foreign_key="members.id", primary_key=True, ondelete="CASCADE")
    day: date = Field(primary_key=True)
    alerts: int = Field(default=0)
    sent_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class QuietHours(SQLModel):
    """No notification (an alert or any other) is pushed or mailed between `start` and `end`
    (local time in the settings' `timezone`): those wait for the end; the inbox and the stream
    never wait. A window may span midnight (22:00 to 07:00)."""

    model_config = request_config({"start": "22:00", "end": "07:00"})

    start: HHMM = Field(schema_extra={"examples": ["22:00"]})
    end: HHMM = Field(schema_extra={"examples": ["07:00"]})

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if self.start == self.end:
            raise rule_broken("quiet hours need a start and an end that differ")
        return self


AlertCategories = Annotated[
    list[Category], Field(min_length=1, max_length=len(Category)), AfterValidator(unique)
]


class Alerts(SQLModel):
    """Opt-in alerts of new needs nearby (`need.nearby`): off unless `enabled`."""

    model_config = request_config()

    enabled: StrictBool = False
    categories: AlertCategories | None = Field(
        default=None, description="Only needs of these categories; every category when absent."
    )
    radius_km: Annotated[StrictFloat, Field(gt=0, le=50)] | None = Field(
        default=None, description="How far from the member's offers, in km (0 < r <= 50)."
    )
    quiet_hours: QuietHours | None = None
    digest: Literal["off", "daily"] = Field(
        default="off",
        description="`off`: each alert is mailed and pushed as it comes. `daily`: alerts reach the "
        "inbox and stream at once, but mail and push get one digest a day of the previous local "
        "day's alerts still unread and open, after midnight in `timezone` and outside quiet hours.",
    )


class NotificationSettingsBody(RequestBody):
    """A member's notification settings, replaced whole by PUT: an absent field takes its default."""

    model_config = request_config(
        {
            "email": True,
            "push": False,
            "alerts": {"enabled": True, "categories": ["groceries"], "radius_km": 3.0},
            "timezone": "Europe/London",
        }
    )

    email: StrictBool = Field(default=True, description="Mail notifications (default on).")
    push: StrictBool = Field(default=False, description="Web Push notifications (default off).")
    alerts: Alerts = Field(default_factory=Alerts)
    timezone: Timezone = Field(default="UTC", description="The zone quiet hours are read in.")


class NotificationSettingsView(SQLModel):
    """A member's notification settings as stored (GET and PUT answer this): the body's fields,
    with the time zone shown as stored, never checked again as input. A zone accepted once may
    be missing from a later tzdata (2020b dropped US/Pacific-New); it is then read as UTC
    (app.core.timeutil.stored_zone) and shown as it is, for the member to replace."""

    email: bool
    push: bool
    alerts: Alerts
    timezone: str = Field(description="The zone quiet hours are read in (an IANA name).")


class NotificationSettings(SQLModel, table=True):
    """Stored only once a member has changed something; until then the defaults apply."""

    __tablename__ = "notification_settings"

    member_id: uuid.UUID = Field(foreign_key="members.id", primary_key=True, ondelete="CASCADE")
    email: bool = True
    push: bool = False
    alerts: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    timezone: str = Field(default="UTC", max_length=64)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class NotificationPublic(SQLModel):
    id: uuid.UUID = Field(description="Sorts by creation time (UUID v7); the stream's event id.")
    type: str = Field(
        description="What happened: `match.proposed`, `match.accepted`, ..., `message.created`, "
        "`need.nearby`, `occurrence.reminder`, `activity.updated`"
    )
    created_at: datetime
    read_at: datetime | None
    data: dict[str, Any] = Field(
        description="Ids and public facts only (`match.*`: `match_id`, `need_id`, `offer_id`, "
        "`status`; `message.created`: `match_id`, `need_id`, `message_id`; `need.nearby`: "
        "`need_id`, `category`, `mode`, `urgency`, `approx_location`; `occurrence.reminder`: "
        "`need_id` and `match_ids`, or `activity_id`, with `occurrence_start`, `occurrence_end`); "
        "never an address, phone, exact location or message text."
    )


class MarkRead(RequestBody):
    """`ids` to mark those (other members' ids are ignored), or `all: true` for every one."""

    model_config = request_config({"ids": ["0193a7c4-5d2e-7b7c-9c1e-8f3a2b1c0d4e"]})

    ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=500)] | None = None
    all: Literal[True] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.ids is None) == (self.all is None):
            raise rule_broken("give either `ids` or `all: true`")
        return self


def _b64url(value: str, *, size: int, what: str) -> bytes:
    try:
        raw = b64url_decode(value)
    except (binascii.Error, ValueError):
        raise rule_broken(f"{what} must be base64url (RFC 4648 5)") from None
    if len(raw) != size:
        raise rule_broken(f"{what} must decode to {size} bytes, not {len(raw)}")
    return raw


def _p256dh(value: str) -> str:
    """The browser's ECDH public key: an uncompressed point on P-256 (RFC 8291 3.1)."""
    raw = _b64url(value, size=65, what="p256dh")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:
        raise rule_broken("p256dh must be an uncompressed point on the P-256 curve") from None
    return value


def _auth(value: str) -> str:
    """The browser's authentication secret: 16 random bytes (RFC 8291 3.2)."""
    _b64url(value, size=16, what="auth")
    return value


def _endpoint(value: str) -> str:
    """An absolute https URL without credentials or fragment, kept exactly as the browser gave it
    (push services read their own URLs byte for byte)."""
    try:
        parts = urlsplit(value)
    except ValueError:  # an unbalanced IPv6 bracket (`https://host]`), and the like
        raise rule_broken("the endpoint is not a URL (RFC 3986)") from None
    if parts.scheme != "https":
        raise rule_broken("the endpoint must be an https URL (RFC 8030 5)")
    if not parts.hostname or parts.username is not None or parts.password is not None or parts.fragment:
        raise rule_broken("the endpoint must name a host, with no user:password and no #fragment")
    try:
        parts.port  # noqa: B018  (raises for a port that is not one)
    except ValueError:
        raise rule_broken("the endpoint's port is not a port") from None
    return value


Base64Url = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]+={0,2}$")]


class PushKeys(SQLModel):
    model_config = request_config()

    p256dh: Annotated[
        Base64Url, StringConstraints(min_length=80, max_length=100), AfterValidator(_p256dh)
    ] = Field(description="The browser's P-256 public key, uncompressed (65 bytes), base64url.")
    auth: Annotated[Base64Url, StringConstraints(min_length=20, max_length=40), AfterValidator(_auth)] = (
        Field(description="The browser's 16-byte authentication secret, base64url.")
    )


class PushSubscriptionCreate(RequestBody):
    """A browser's `PushSubscription.toJSON()` (W3C Push API), as the browser gives it."""

    model_config = request_config(
        {
            "endpoint": "https://push.example.net/wpush/v2/gAAAAABh",
            "expirationTime": None,
            "keys": {
                "p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0"
                "VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
                "auth": "tBHItJI5svbpez7KI4CCXg",
            },
        }
    )

    endpoint: Annotated[
        str,
        StringConstraints(min_length=9, max_length=2000, pattern=r"^https://[!-~]+$"),
        AfterValidator(_endpoint),
    ] = Field(description="The push service's URL for this browser: https, on a public address.")
    expirationTime: Annotated[int, Strict(), Field(ge=0), WHOLE_NUMBER] | None = Field(
        default=None, description="Milliseconds since the epoch when the browser will end it; not used."
    )
    keys: PushKeys


class PushSubscriptionPublic(SQLModel):
    id: uuid.UUID
    endpoint: str
    created_at: datetime
    updated_at: datetime = Field(description="When the browser last sent it (a repeat refreshes its keys).")


class PushPublicKey(SQLModel):
    public_key: str = Field(
        description="The VAPID application server key (RFC 8292 3.2): the uncompressed P-256 point, "
        "base64url without padding; pass it as `applicationServerKey` to `pushManager.subscribe()`."
    )


class UnsubscribeState(SQLModel):
    email: bool = Field(description="Whether notification mail is on for the member the link names.")
    detail: str
