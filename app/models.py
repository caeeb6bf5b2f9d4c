"""Every table, imported in one place so the metadata is whole (Alembic, tests)."""

from app.activities.models import Activity, Participant
from app.audit.models import AuditEvent
from app.idempotency.models import IdempotencyKey
from app.matches.models import Match
from app.members.models import Member
from app.needs.models import Need
from app.offers.models import Offer
from app.organizations.models import ApiKey, Membership, Organization
from app.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

__all__ = [
    "Activity",
    "ApiKey",
    "AuditEvent",
    "IdempotencyKey",
    "Match",
    "Member",
    "Membership",
    "Need",
    "Offer",
    "Organization",
    "Participant",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
]
