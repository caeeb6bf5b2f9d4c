"""The daily digest of `need.nearby` alerts, for members who chose `alerts.digest: daily`.

Their alerts reach the inbox and stream at once, but no mail or push each
(app.notifications.channels). Instead the worker (`python -m app worker`, every
ALERT_DIGEST_INTERVAL_SECONDS) sends each of them one mail and one push per subscription for the
previous day in their time zone: the alerts of that local day that are still unread and whose
need an alert would still tell them of (open, in public view, neither of them blocked by the
other), or nothing when none is left. It is due at the member's local midnight,
or when quiet hours holding that midnight end; queued later inside another quiet window, its
mail and push wait for that window's end like any other.

Once per member per day, however many workers run: each member's digest is one transaction that
inserts the (member, day) row of `alert_digests` with ON CONFLICT DO NOTHING and queues the mail
and push only when the insert wrote a row. A second worker's insert waits for the first's commit,
then writes nothing. Only the last local day is looked at: a worker stopped for a whole day sends
no digest for the days it missed (the alerts stay in the inbox).

What a digest says is each alert's public facts (category, urgency, mode) and a link: never an
address, phone or location, which alert data does not hold either.
"""

import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.timeutil import stored_zone, utcnow
from app.core.transactions import commit_own
from app.notifications.channels import DIGESTED, Recipient, recipients, unsubscribe_url
from app.notifications.mail import render_digest
from app.notifications.models import AlertDigest, Notification, NotificationSettings
from app.notifications.quiet import due_at
from app.webhooks.models import PushSubscription
from app.webhooks.outbox import OutgoingMail, OutgoingPush, queue_mails, queue_pushes

KIND = "need.nearby.digest"
# Digest rows older than this are forgotten: the job never looks further back than a day.
KEEP_DAYS = 3

# Of these need ids, those an alert would still tell this member of (open, in public view, no
# block between them): the needs domain answers (it sits above this one).
StillShown = Callable[[AsyncSession, uuid.UUID, set[uuid.UUID]], Awaitable[set[uuid.UUID]]]


@dataclass(frozen=True)
class Window:
    """A member's last complete local day: its alerts are those created in [start, end)."""

    day: date
    start: datetime
    end: datetime
    due: datetime  # the end, or the end of the quiet hours holding it


def window(now: datetime, quiet_hours: dict[str, str] | None, timezone: str) -> Window:
    """The local day before `now`'s in `timezone` (an IANA name), as UTC instants, and when its
    digest is due (midnight local, moved to the end of quiet hours that hold it)."""
    zone = stored_zone(timezone)
    day = now.astimezone(zone).date() - timedelta(days=1)
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return Window(day, start, end, due_at(end, quiet_hours, timezone))


async def _digest_members(session: AsyncSession) -> list[tuple[uuid.UUID, dict[str, str] | None, str]]:
    """Members with `alerts.digest: daily`: (id, quiet hours, time zone)."""
    alerts = col(NotificationSettings.alerts)
    stmt = select(NotificationSettings.member_id, alerts, NotificationSettings.timezone).where(
        alerts["digest"].as_string() == "daily"
    )
    return [(m, (a or {}).get("quiet_hours"), tz or "UTC") for m, a, tz in (await session.exec(stmt)).all()]


async def _claim(session: AsyncSession, member_id: uuid.UUID, day: date, count: int, now: datetime) -> bool:
    """Record the member's digest for `day`; False when a digest for it is already recorded (by
    this worker or another: the insert waits for the other's commit, then writes nothing)."""
    builder = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        builder(AlertDigest)
        .values(member_id=member_id, day=day, alerts=count, sent_at=now)
        .on_conflict_do_nothing()
        .returning(col(AlertDigest.member_id))
    )
    return (await session.exec(stmt)).first() is not None


async def _alerts(session: AsyncSession, member_id: uuid.UUID, span: Window) -> list[Notification]:
    stmt = (
        select(Notification)
        .where(
            col(Notification.member_id) == member_id,
            col(Notification.type) == DIGESTED,
            col(Notification.read_at).is_(None),
            col(Notification.created_at) >= span.start,
            col(Notification.created_at) < span.end,
        )
        .order_by(col(Notification.seq))
    )
    return list((await session.exec(stmt)).all())


def _need_id(row: Notification) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(row.data.get("need_id")))
    except ValueError:
        return None


async def _queue(
    session: AsyncSession,
    settings: Settings,
    who: Recipient,
    span: Window,
    alerts: list[Notification],
    now: datetime,
) -> None:
    """The digest's mail (to a verified address, mail on) and a push per subscription (push on)."""
    due = due_at(now, who.quiet_hours, who.timezone)
    base = settings.public_base_url.rstrip("/")
    if who.email and who.address:
        unsubscribe = unsubscribe_url(settings, who.member_id)
        rendered = render_digest(
            day=span.day.isoformat(),
            alerts=[(row.data, f"{base}/notifications/{row.id}") for row in alerts],
            languages=who.languages,
            link=f"{base}/notifications",
            unsubscribe=unsubscribe,
        )
        mail = OutgoingMail(
            to=who.address,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            kind=f"mail.{KIND}",
            due=due,
            headers=(
                ("List-Unsubscribe", f"<{unsubscribe}>"),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ),
        )
        await queue_mails(session, [mail], settings=settings)
    if who.push:
        payload = {
            "type": KIND,
            "created_at": now.isoformat(),
            "data": {"day": span.day.isoformat(), "count": len(alerts)},
        }
        stmt = (
            select(PushSubscription.id)
            .where(col(PushSubscription.member_id) == who.member_id)
            .order_by(col(PushSubscription.created_at), col(PushSubscription.id))
        )
        await queue_pushes(
            session,
            [
                OutgoingPush(subscription_id=s, payload=payload, kind=f"push.{KIND}", due=due)
                for s in (await session.exec(stmt)).all()
            ],
        )


async def send_digests(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    still_shown: StillShown,
    now: datetime | None = None,
) -> int:
    """Send every digest due at `now` (default: the clock) and not yet sent; how many were queued
    (a member whose day left nothing to list is recorded, and not counted)."""
    now = now or utcnow()
    async with sessions() as session:
        await session.exec(
            delete(AlertDigest).where(col(AlertDigest.day) < now.date() - timedelta(days=KEEP_DAYS))
        )
        await commit_own(session)
        due: dict[uuid.UUID, Window] = {}
        for member_id, quiet_hours, timezone in await _digest_members(session):
            span = window(now, quiet_hours, timezone)
            if span.due <= now:
                due[member_id] = span
        done = await _already(session, due.items())
        await commit_own(session)
        sent = 0
        for member_id in sorted(set(due) - done):  # one order, so workers meet on the same rows
            span = due[member_id]
            alerts = await _alerts(session, member_id, span)
            needs = {n for n in map(_need_id, alerts) if n is not None}
            shown = await still_shown(session, member_id, needs) if needs else set()
            alerts = [a for a in alerts if _need_id(a) in shown]
            if await _claim(session, member_id, span.day, len(alerts), now) and alerts:
                who = (await recipients(session, [member_id])).get(member_id)
                if who is not None:
                    await _queue(session, settings, who, span, alerts, now)
                    sent += 1
            await commit_own(session)
    return sent


async def _already(session: AsyncSession, wanted: Iterable[tuple[uuid.UUID, Window]]) -> set[uuid.UUID]:
    """Of these members, those whose digest for their window's day is recorded."""
    pairs = [(m, w.day) for m, w in wanted]
    if not pairs:
        return set()
    stmt = select(col(AlertDigest.member_id), col(AlertDigest.day)).where(
        col(AlertDigest.member_id).in_([m for m, _ in pairs]),
        col(AlertDigest.day) >= min(day for _, day in pairs),
    )
    recorded = set((await session.exec(stmt)).all())
    return {m for m, day in pairs if (m, day) in recorded}
