"""`GET /members/me/export`: everything held about a member, one section per domain.

Each section is one entry in `SECTIONS`: its name in the document, the function that reads it,
and the (table, column) pairs naming the member that it covers. A new domain (messages,
sessions) adds one entry; `EXCLUDED` names each member column deliberately left out, with the
reason. tests/datarights/test_export.py fails while a column naming a member is in neither.
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.activities.models import Activity, Participant, ParticipantStatus
from app.activities.service import hosts, visible_sql
from app.activities.views import HOST, PARTICIPANT, PUBLIC, render
from app.audit import service as audit
from app.audit.models import AuditEvent
from app.auth.callers import Caller
from app.calendars import service as calendars
from app.core.timeutil import utcnow
from app.matches.models import Match, Message
from app.matches.views import render_page
from app.members.accounts import MemberSession
from app.members.models import Member, MemberPrivate
from app.needs.models import Need
from app.needs.views import render_owner
from app.notifications import service as notifications
from app.notifications import subscriptions
from app.notifications.models import Notification, NotificationPublic, PushSubscriptionPublic
from app.offers.models import Offer
from app.offers.service import render_owner as render_offer
from app.organizations.models import Membership
from app.safety.models import MemberBlock
from app.safety.reporting import Report, ReportPublic

Reader = Callable[[AsyncSession, Caller], Awaitable[Any]]


@dataclass(frozen=True)
class Section:
    read: Reader
    covers: tuple[tuple[str, str], ...]  # (table, column) naming the member that it exports


def _me(caller: Caller) -> uuid.UUID:
    assert caller.member_id is not None  # the route admits members only
    return caller.member_id


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json")


async def _profile(session: AsyncSession, caller: Caller) -> Any:
    member = await session.get(Member, _me(caller))
    assert member is not None  # the caller's own row, just read by the request
    profile = MemberPrivate.of(member).model_dump(mode="json")
    # Never the password hash; a suspension is the member's to know (its reason included).
    suspension = {"suspended_at": member.suspended_at, "suspended_until": member.suspended_until}
    return {
        **profile,
        **{k: v.isoformat() if v else None for k, v in suspension.items()},
        "suspension_reason": member.suspension_reason,
    }


async def _needs(session: AsyncSession, caller: Caller) -> Any:
    stmt = select(Need).where(col(Need.requester_id) == _me(caller)).order_by(col(Need.created_at))
    return [_dump(render_owner(n)) for n in (await session.exec(stmt)).all()]


async def _offers(session: AsyncSession, caller: Caller) -> Any:
    stmt = select(Offer).where(col(Offer.volunteer_id) == _me(caller)).order_by(col(Offer.created_at))
    return [_dump(render_offer(o)) for o in (await session.exec(stmt)).all()]


async def _matches(session: AsyncSession, caller: Caller) -> Any:
    me = _me(caller)
    stmt = select(Match).where(or_(col(Match.volunteer_id) == me, col(Match.requester_id) == me))
    matches = (await session.exec(stmt.order_by(col(Match.created_at)))).all()
    # Each as the member's side sees it: the contact it shows is audited like any read of it.
    return [_dump(view) for view in await render_page(session, matches, caller)]


async def _notifications(session: AsyncSession, caller: Caller) -> Any:
    stmt = (
        select(Notification).where(col(Notification.member_id) == _me(caller)).order_by(col(Notification.seq))
    )
    rows = (await session.exec(stmt)).all()
    return [_dump(NotificationPublic.model_validate(n, from_attributes=True)) for n in rows]


async def _notification_settings(session: AsyncSession, caller: Caller) -> Any:
    return _dump(await notifications.get_settings(session, member_id=_me(caller)))


async def _blocks(session: AsyncSession, caller: Caller) -> Any:
    stmt = select(MemberBlock).where(col(MemberBlock.blocker_id) == _me(caller))
    rows = (await session.exec(stmt.order_by(col(MemberBlock.created_at)))).all()
    return [{"member_id": str(b.blocked_id), "created_at": b.created_at.isoformat()} for b in rows]


async def _reports(session: AsyncSession, caller: Caller) -> Any:
    stmt = select(Report).where(col(Report.reporter_id) == _me(caller)).order_by(col(Report.created_at))
    return [
        _dump(ReportPublic.model_validate(r, from_attributes=True)) for r in (await session.exec(stmt)).all()
    ]


async def _activities(session: AsyncSession, caller: Caller) -> Any:
    me = _me(caller)
    hosted = (await session.exec(select(Activity).where(col(Activity.host_id) == me))).all()
    joined = (
        await session.exec(
            select(Activity, Participant.status)
            .join(Participant, col(Participant.activity_id) == col(Activity.id))
            .where(col(Participant.member_id) == me)
        )
    ).all()
    # Places are kept while an activity is hidden from the member (its host suspended): listed,
    # as anyone sees it, never with the address it would show a participant.
    ids = [a.id for a, _ in joined]
    seen = select(Activity.id).where(col(Activity.id).in_(ids), *visible_sql(me, utcnow()))
    visible = set((await session.exec(seen)).all()) if ids else set()

    def place_view(activity: Activity, status: str) -> str:
        return PARTICIPANT if status == ParticipantStatus.confirmed and activity.id in visible else PUBLIC

    return {
        # What they made: hosted while they may host it (an organisation's, while they still
        # coordinate it: owner rights follow current roles), else as anyone sees it.
        "hosted": [_dump(render(a, HOST if hosts(a, caller) else PUBLIC)) for a in hosted],
        # The place's address and exact point reach confirmed participants only, as on every read.
        "joined": [_dump(render(a, place_view(a, status), status)) for a, status in joined],
    }


async def _calendar_feed(session: AsyncSession, caller: Caller) -> Any:
    """Whether the member has a calendar feed, and since when: never its URL, whose token is kept
    only as a hash (the member makes a new one to see a URL again)."""
    feed = await calendars.current_feed(session, member_id=_me(caller))
    return {"created_at": feed.created_at.isoformat()} if feed is not None else None


async def _organizations(session: AsyncSession, caller: Caller) -> Any:
    rows = (await session.exec(select(Membership).where(col(Membership.member_id) == _me(caller)))).all()
    return [
        {
            "organization_id": str(m.organization_id),
            "role": m.role,
            "vetted": m.vetted,
            "created_at": m.created_at.isoformat(),
        }
        for m in rows
    ]


async def _messages(session: AsyncSession, caller: Caller) -> Any:
    """Every message of the member's matches, theirs (`mine`) and the other side's, oldest first."""
    me = _me(caller)
    theirs = select(Match.id).where(or_(col(Match.volunteer_id) == me, col(Match.requester_id) == me))
    stmt = select(Message).where(col(Message.match_id).in_(theirs)).order_by(col(Message.created_at))
    return [
        {
            "id": str(m.id),
            "match_id": str(m.match_id),
            "mine": m.author_id == me,
            "body": m.body,
            "created_at": m.created_at.isoformat(),
        }
        for m in (await session.exec(stmt)).all()
    ]


async def _sessions(session: AsyncSession, caller: Caller) -> Any:
    """Every login, live or ended: when, from what kind of device (never a token or an address)."""
    stmt = select(MemberSession).where(col(MemberSession.member_id) == _me(caller))
    return [
        {
            "id": str(s.id),
            "user_agent": s.user_agent,
            "created_at": s.created_at.isoformat(),
            "last_used_at": s.last_used_at.isoformat(),
            "expires_at": s.expires_at.isoformat(),
            "revoked_at": s.revoked_at.isoformat() if s.revoked_at else None,
        }
        for s in (await session.exec(stmt.order_by(col(MemberSession.created_at)))).all()
    ]


async def _push_subscriptions(session: AsyncSession, caller: Caller) -> Any:
    """The browsers that take the member's push: where (the push service's URL) and since when.
    Never their keys: the browser's own secrets, which it holds already (as sessions show no token)."""
    rows = await subscriptions.list_own(session, member_id=_me(caller))
    return [_dump(PushSubscriptionPublic.model_validate(r, from_attributes=True)) for r in rows]


async def _audit(session: AsyncSession, caller: Caller) -> Any:
    stmt = (
        select(AuditEvent)
        .where(col(AuditEvent.subject_member_id) == _me(caller))
        .order_by(col(AuditEvent.at))
    )
    return [_dump(audit.render(e, for_subject=True)) for e in (await session.exec(stmt)).all()]


SECTIONS: dict[str, Section] = {
    "profile": Section(_profile, (("members", "id"),)),
    "needs": Section(_needs, (("needs", "requester_id"),)),
    "offers": Section(_offers, (("offers", "volunteer_id"),)),
    "matches": Section(_matches, (("matches", "volunteer_id"), ("matches", "requester_id"))),
    "notifications": Section(_notifications, (("notifications", "member_id"),)),
    "notification_settings": Section(_notification_settings, (("notification_settings", "member_id"),)),
    "push_subscriptions": Section(_push_subscriptions, (("push_subscriptions", "member_id"),)),
    "blocks": Section(_blocks, (("member_blocks", "blocker_id"),)),
    "reports": Section(_reports, (("reports", "reporter_id"),)),
    "activities": Section(_activities, (("activities", "host_id"), ("activity_participants", "member_id"))),
    "calendar_feed": Section(_calendar_feed, (("calendar_feeds", "member_id"),)),
    "organizations": Section(_organizations, (("organization_members", "member_id"),)),
    "audit": Section(_audit, (("audit_events", "subject_member_id"),)),
    "sessions": Section(_sessions, (("member_sessions", "member_id"),)),
    "messages": Section(_messages, (("match_messages", "author_id"),)),
}

# Columns naming a member that the export leaves out on purpose, and why.
EXCLUDED: dict[tuple[str, str], str] = {
    (
        "alert_allowances",
        "member_id",
    ): "a count of the day's nearby-need alerts; the alerts are in notifications",
    (
        "alert_digests",
        "member_id",
    ): "the days a digest of the member's alerts was sent, kept three days; the alerts are in notifications",
    (
        "need_alerts",
        "member_id",
    ): "which needs the member was alerted of, so none alerts them twice; the alerts are in notifications",
    (
        "account_tokens",
        "member_id",
    ): "one-time links' tokens, kept only as hashes: a secret's hash tells the member nothing",
    (
        "members",
        "duplicate_of",
    ): "an internal link between two accounts of one address; the profile is the account",
    (
        "needs",
        "filed_by_member_id",
    ): "needs a coordinator filed for someone else are that person's data, held by the organisation",
    ("matches", "proposed_by_member_id"): "who proposed is shown in each match's view (proposed_by) already",
    (
        "member_blocks",
        "blocked_id",
    ): "a block made against the member is the blocker's, never announced to them",
    (
        "reports",
        "subject_member_id",
    ): "a report about the member is the reporter's; its decisions reach them as notifications",
    ("reports", "resolved_by"): "moderators' decisions, not data about the moderator's own person",
    (
        "audit_events",
        "actor_member_id",
    ): "what the member was shown of others is the others' data (in their exports)",
    ("admin_actions", "actor_member_id"): "the operators' moderation log, not shown to members",
    (
        "admin_actions",
        "target_member_id",
    ): "the operators' moderation log; a suspension itself is in the profile",
    ("api_keys", "created_by"): "an organisation's credential; the member is only named as who made it",
    (
        "webhook_endpoints",
        "created_by_member_id",
    ): "an organisation's subscription; the member is only named as who made it",
    ("notification_counters", "member_id"): "a sequence number, the notifications themselves are exported",
    (
        "occurrence_reminders",
        "member_id",
    ): "which occurrences the member was reminded of; the reminders are in notifications",
}


async def export(session: AsyncSession, *, caller: Caller) -> dict[str, Any]:
    """The whole document: `{"format": 1, <section>: ...}`, each section as its domain shows it."""
    document: dict[str, Any] = {"format": 1}
    for name, section in SECTIONS.items():
        document[name] = await section.read(session, caller)
    return document
