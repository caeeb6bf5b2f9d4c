"""`DELETE /members/me`: erase a member's personal data in the request's one transaction.

What goes and what stays, and why, is docs/data-rights.md. In short: the member row stays as a
tombstone (`erased_at`, no identity), so its random id is the pseudonym every remaining row
(audit, the other side's matches, reports) keeps; what the member wrote and where they are goes.
"""

import secrets
import uuid
from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.activities import service as activities
from app.activities.models import Activity, ActivityStatus, Participant
from app.audit.models import AuditEvent
from app.calendars.models import CalendarFeed, OccurrenceReminder
from app.core.errors import Forbidden
from app.core.security import hash_password, verify_password
from app.core.timeutil import utcnow
from app.idempotency.models import IdempotencyKey
from app.matches import moderation as matches
from app.matches.models import Message
from app.members.accounts import AccountToken, MemberSession, TokenPurpose
from app.members.models import Member
from app.needs import moderation as needs
from app.needs.models import Need
from app.needs.service import EDITABLE
from app.needs.views import effective_status
from app.notifications.models import (
    AlertDigest,
    NeedAlert,
    Notification,
    NotificationCounter,
    NotificationSettings,
)
from app.offers import moderation as offers
from app.offers.models import Offer, OfferStatus
from app.organizations.models import Membership
from app.safety.models import MemberBlock
from app.safety.reporting import Report
from app.webhooks.models import MailMessage, PushSubscription, WebhookDelivery

FORMER_MEMBER = "Former member"  # the display name an erased member leaves behind
ERASED_TEXT = "Erased at the member's request"  # what stands in for free text they wrote
REFUSED = "The password is not correct; nothing was erased."

NEED_ERASED = {
    "title": ERASED_TEXT,
    "description": None,
    "address": None,
    "contact_name": None,
    "contact_phone": None,
    **dict.fromkeys(("lat", "lon", "approx_lat", "approx_lon", "h3_r4", "h3_r6", "h3_r8")),
}
ACTIVITY_ERASED = {
    "title": ERASED_TEXT,
    "description": None,
    "address": None,
    **dict.fromkeys(("lat", "lon", "approx_lat", "approx_lon", "h3_r4", "h3_r6", "h3_r8")),
}


async def check_password(member: Member, password: str) -> None:
    """Raises Forbidden (403) when `password` is not the member's: the caller is who the token
    says, but erasure is final, so it also asks for what only the person knows."""
    if "\x00" in password or not await verify_password(password, member.password_hash):
        raise Forbidden(REFUSED)


async def erase(session: AsyncSession, *, member: Member) -> bool:
    """Erase the member (whose password the caller has proved); False when another request
    erased them first. Flushes only: the request's transaction makes it all or nothing."""
    now = utcnow()
    claimed = await session.exec(
        update(Member)
        .where(col(Member.id) == member.id, col(Member.erased_at).is_(None))
        .values(erased_at=now)
    )
    if claimed.rowcount != 1:
        return False
    await _withdraw(session, member.id, now)
    await _scrub_records(session, member.id)
    # A change of address mailed its link to the new address: that mail names them too.
    asked = select(AccountToken.email).where(
        col(AccountToken.member_id) == member.id, col(AccountToken.purpose) == TokenPurpose.change_email
    )
    addresses = {member.email, *(await session.exec(asked)).all()}
    await _forget_own(session, member.id)
    for address in sorted(addresses):
        await _unsend_mail(session, address)
    await _scrub_identity(session, member.id, now)
    return True


async def _unsend_mail(session: AsyncSession, address: str) -> None:
    """Mail to the member's address, sent or waiting, with its deliveries: a waiting one would
    reach a person who has gone, and every one names their address."""
    mails = select(MailMessage.id).where(col(MailMessage.to_address) == address)
    await session.exec(delete(WebhookDelivery).where(col(WebhookDelivery.mail_id).in_(mails)))
    await session.exec(delete(MailMessage).where(col(MailMessage.to_address) == address))


async def _withdraw(session: AsyncSession, me: uuid.UUID, now: datetime) -> None:
    """Everything in flight ends as it would for a suspension: each match is cancelled and both
    sides told (webhooks: `match.cancelled`, reason `unavailable`), open needs cancelled, offers
    paused, places given up (the waitlist promoted), the member's own open activities cancelled."""
    await matches.end_for_member(session, member_id=me, now=now)
    for need in (await session.exec(select(Need).where(col(Need.requester_id) == me))).all():
        if effective_status(need) in EDITABLE:
            await needs.remove(session, subject_id=need.id, now=now)
    stmt = select(Offer.id).where(col(Offer.volunteer_id) == me, col(Offer.status) == OfferStatus.active)
    for offer_id in (await session.exec(stmt)).all():
        await offers.remove(session, subject_id=offer_id, now=now)
    places = select(Participant.activity_id).where(col(Participant.member_id) == me)
    for activity_id in (await session.exec(places.order_by(col(Participant.activity_id)))).all():
        await activities.leave(session, activity_id=activity_id, member_id=me, removed=False)
    hosted = select(Activity).where(
        col(Activity.host_id) == me,
        col(Activity.organization_id).is_(None),
        col(Activity.status) == ActivityStatus.open,
    )
    for activity in (await session.exec(hosted)).all():
        await activities.cancel_activity(session, activity=activity)


async def _scrub_records(session: AsyncSession, me: uuid.UUID) -> None:
    """What they wrote and where they are, on the records that stay for the other side and the
    organisations (which now see their needs anonymised). An organisation's activity they hosted
    is the organisation's, and keeps its place and text."""
    await session.exec(update(Need).where(col(Need.requester_id) == me).values(**NEED_ERASED))
    await session.exec(
        update(Offer)
        .where(col(Offer.volunteer_id) == me)
        # Offers keep a point (the column is required): the coarse one, never the exact one.
        .values(note=None, lat=col(Offer.approx_lat), lon=col(Offer.approx_lon))
    )
    await session.exec(
        update(Activity)
        .where(col(Activity.host_id) == me, col(Activity.organization_id).is_(None))
        .values(**ACTIVITY_ERASED)
    )
    # A report they made stays for moderation's record (its subject may still need protecting);
    # what they wrote in it goes.
    await session.exec(update(Report).where(col(Report.reporter_id) == me).values(detail=None))
    # Their messages stay in the match's thread, as rows; the words are theirs, and go.
    await session.exec(update(Message).where(col(Message.author_id) == me).values(body=None))
    await session.exec(
        update(AuditEvent).where(col(AuditEvent.actor_member_id) == me).values(actor_name=FORMER_MEMBER)
    )


async def _forget_own(session: AsyncSession, me: uuid.UUID) -> None:
    """Rows that exist only for the member: their inbox and settings, the days their alert
    digest was sent and which needs they were alerted of, browsers' push subscriptions (the
    pushes waiting for them go too), logins and one-time links, their calendar feed and
    reminders sent, the blocks they made (who someone feared is about them, and a block
    protects a person who is gone), memberships, and their stored idempotent answers. Blocks
    made against them stay: those protect others."""
    for table, column in (
        (Notification, Notification.member_id),
        (NotificationSettings, NotificationSettings.member_id),
        (NotificationCounter, NotificationCounter.member_id),
        (AlertDigest, AlertDigest.member_id),  # the days their alert digest was sent
        (NeedAlert, NeedAlert.member_id),  # which needs they were alerted of
        (PushSubscription, PushSubscription.member_id),
        (MemberBlock, MemberBlock.blocker_id),
        (Membership, Membership.member_id),
        # Their logins (refresh tokens go with them) and one-time links, which name their address.
        (MemberSession, MemberSession.member_id),
        (AccountToken, AccountToken.member_id),
        # Their calendar feed (its URL stops at once) and the record of reminders they were sent.
        (CalendarFeed, CalendarFeed.member_id),
        (OccurrenceReminder, OccurrenceReminder.member_id),
    ):
        await session.exec(delete(table).where(col(column) == me))
    await session.exec(delete(IdempotencyKey).where(col(IdempotencyKey.scope) == f"member:{me}"))


async def _scrub_identity(session: AsyncSession, me: uuid.UUID, now: datetime) -> None:
    # An address no sign-up can take (.invalid is refused) and a hash of a secret nobody holds.
    await session.exec(
        update(Member)
        .where(col(Member.id) == me)
        .values(
            email=f"erased-{me.hex}@erased.invalid",
            password_hash=await hash_password(secrets.token_urlsafe(32)),
            display_name=FORMER_MEMBER,
            phone=None,
            languages=[],
            email_as_written=None,
            suspension_reason=None,
            updated_at=now,
        )
    )
