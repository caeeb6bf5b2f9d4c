"""Every table, imported in one place so the metadata is whole (Alembic, tests)."""

from app.audit.models import AuditEvent
from app.idempotency.models import IdempotencyKey
from app.matches.models import Match
from app.members.accounts import AccountToken, MemberSession, RefreshToken
from app.members.models import Member
from app.needs.models import Need
from app.offers.models import Offer
from app.organizations.models import ApiKey, Membership, Organization
from app.webhooks.models import MailMessage, WebhookDelivery, WebhookEndpoint, WebhookEvent

__all__ = [
    "AccountToken",
    "ApiKey",
    "AuditEvent",
    "IdempotencyKey",
    "MailMessage",
    "Match",
    "Member",
    "MemberSession",
    "Membership",
    "Need",
    "Offer",
    "Organization",
    "RefreshToken",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
]
