"""Every table, imported in one place so the metadata is whole (Alembic, tests)."""

from app.activities.models import Activity, Participant
from app.audit.models import AdminAction, AuditEvent
from app.calendars.models import CalendarFeed, OccurrenceReminder
from app.dispatch.models import AlertFanout
from app.idempotency.models import IdempotencyKey
from app.matches.models import Match, Message
from app.members.accounts import AccountToken, MemberSession, RefreshToken
from app.members.models import Member
from app.needs.models import Need, OccurrenceSlots
from app.notifications.models import (
    AlertAllowance,
    NeedAlert,
    Notification,
    NotificationCounter,
    NotificationSettings,
)
from app.offers.models import Offer
from app.organizations.models import ApiKey, Membership, Organization
from app.safety.models import MemberBlock
from app.safety.reporting import Report
from app.webhooks.models import (
    MailMessage,
    PushMessage,
    PushSubscription,
    ServerKey,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

__all__ = [
    "AccountToken",
    "Activity",
    "AdminAction",
    "AlertAllowance",
    "AlertFanout",
    "ApiKey",
    "AuditEvent",
    "CalendarFeed",
    "IdempotencyKey",
    "MailMessage",
    "Match",
    "Member",
    "MemberBlock",
    "MemberSession",
    "Membership",
    "Message",
    "Need",
    "NeedAlert",
    "Notification",
    "NotificationCounter",
    "NotificationSettings",
    "OccurrenceReminder",
    "OccurrenceSlots",
    "Offer",
    "Organization",
    "Participant",
    "PushMessage",
    "PushSubscription",
    "RefreshToken",
    "Report",
    "ServerKey",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
]
