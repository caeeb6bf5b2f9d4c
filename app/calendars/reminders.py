"""`occurrence.reminder`: REMINDER_LEAD_MINUTES before each occurrence, both sides of an accepted
match on a need (the requester and each volunteer whose match covers that occurrence) and the
confirmed participants of an activity are told, once per occurrence per member.

The worker runs `send_due` every REMINDER_INTERVAL_SECONDS (`python -m app worker`). Each
occurrence is claimed and told in a transaction of its own: one INSERT ... ON CONFLICT DO NOTHING
of (member, subject, occurrence start) rows RETURNING those it wrote, and `notify` for exactly
those. A second worker inserting the same rows waits for the first to commit, then writes none,
so nobody is told twice, however many workers run. Nothing is sent for an occurrence that is
cancelled (the occurrence, its need or activity), already started, or for a member suspended,
nor for an activity hidden while its host is suspended (`activities.visible_sql`).
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.activities import occurrences as activity_occurrences
from app.activities import service as activities
from app.activities.models import Activity, ActivityStatus, Participant, ParticipantStatus
from app.calendars.models import OccurrenceReminder, Subject
from app.core.config import Settings
from app.core.timeutil import utcnow
from app.core.transactions import commit_own
from app.matches.models import Match, MatchStatus
from app.members.suspension import suspended_among
from app.needs import occurrences as need_occurrences
from app.needs.models import Need, NeedStatus, OccurrenceStatus, closes_at_sql
from app.notifications import service as notifications

TYPE = "occurrence.reminder"
# Claims of occurrences this long past are forgotten: the window never looks back.
KEEP_CLAIMS = timedelta(days=1)


@dataclass
class Due:
    """One occurrence to remind of: who, and the data each of them is told."""

    subject: Subject
    subject_id: uuid.UUID
    start: datetime
    end: datetime
    # recipient -> the match ids they are shown (a volunteer their own, the requester every one;
    # none for an activity)
    recipients: dict[uuid.UUID, set[uuid.UUID]] = field(default_factory=lambda: defaultdict(set))

    @property
    def key(self) -> tuple[datetime, str, uuid.UUID]:
        return self.start, self.subject, self.subject_id

    def data(self, member_id: uuid.UUID) -> dict[str, object]:
        times = {"occurrence_start": self.start.isoformat(), "occurrence_end": self.end.isoformat()}
        if self.subject == Subject.activity:
            return {"activity_id": str(self.subject_id), **times}
        ids = sorted(str(m) for m in self.recipients[member_id])
        return {"need_id": str(self.subject_id), "match_ids": ids, **times}


async def _activities(session: AsyncSession, now: datetime, until: datetime) -> list[Due]:
    stmt = select(Activity).where(
        col(Activity.status) == ActivityStatus.open,
        col(Activity.starts_at) <= until,
        col(Activity.last_ends_at) > now,
        col(Activity.confirmed_count) > 0,
        *activities.visible_sql(None, now),  # none a suspended member hosts for themselves
    )
    due = []
    for activity in (await session.exec(stmt)).all():
        for start, end in activity_occurrences.starting_within(activity, now, until):
            due.append(Due(Subject.activity, activity.id, start, end))
    if not due:
        return []
    ids = {d.subject_id for d in due}
    places = await session.exec(
        select(Participant.activity_id, Participant.member_id).where(
            col(Participant.activity_id).in_(ids), col(Participant.status) == ParticipantStatus.confirmed
        )
    )
    confirmed: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for activity_id, member_id in places.all():
        confirmed[activity_id].add(member_id)
    for d in due:
        for member_id in confirmed[d.subject_id]:
            d.recipients[member_id] = set()
    return due


async def _needs(session: AsyncSession, now: datetime, until: datetime) -> list[Due]:
    stmt = (
        select(Match, Need)
        .join(Need, col(Need.id) == col(Match.need_id))
        .where(
            col(Match.status) == MatchStatus.accepted,
            col(Need.status).in_((NeedStatus.open, NeedStatus.matched)),
            col(Need.window_start).is_not(None),
            col(Need.window_start) <= until,
            closes_at_sql() > now,
        )
    )
    found: dict[tuple[uuid.UUID, datetime], Due] = {}
    for match, need in (await session.exec(stmt)).all():
        for o in need_occurrences.listed(need, start=now, end=until + timedelta(microseconds=1), now=now):
            if not now < o.start <= until or o.status != OccurrenceStatus.open:
                continue
            if match.occurrence_start is not None and match.occurrence_start != o.start:
                continue
            due = found.setdefault((need.id, o.start), Due(Subject.need, need.id, o.start, o.end))
            for member_id in (match.volunteer_id, match.requester_id):
                if member_id is not None:
                    due.recipients[member_id].add(match.id)
    return list(found.values())


async def due(session: AsyncSession, *, now: datetime, lead: timedelta) -> list[Due]:
    """Occurrences starting in (now, now + lead], each with whom to tell, in one order (start,
    subject) so that workers take them in the same order."""
    items = await _activities(session, now, now + lead) + await _needs(session, now, now + lead)
    return sorted(items, key=lambda d: d.key)


async def _claim(
    session: AsyncSession, item: Due, members: list[uuid.UUID], now: datetime
) -> list[uuid.UUID]:
    """Those of `members` not yet reminded of this occurrence, each now marked reminded."""
    builder = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    rows = [
        {
            "member_id": m,
            "subject_type": item.subject.value,
            "subject_id": item.subject_id,
            "occurrence_start": item.start,
            "sent_at": now,
        }
        for m in sorted(members)
    ]
    stmt = (
        builder(OccurrenceReminder)
        .values(rows)
        .on_conflict_do_nothing()
        .returning(col(OccurrenceReminder.member_id))
    )
    return sorted(row[0] for row in (await session.exec(stmt)).all())


async def send_due(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, *, now: datetime | None = None
) -> int:
    """Remind everyone due a reminder at `now` (default: the clock); how many were told."""
    now = now or utcnow()
    lead = timedelta(minutes=settings.reminder_lead_minutes)
    async with sessions() as session:
        items = await due(session, now=now, lead=lead)
        await session.exec(
            delete(OccurrenceReminder).where(col(OccurrenceReminder.occurrence_start) < now - KEEP_CLAIMS)
        )
        await commit_own(session)
        told = 0
        for item in items:
            suspended = await suspended_among(session, member_ids=item.recipients, now=now)
            fresh = await _claim(session, item, [m for m in item.recipients if m not in suspended], now)
            for member_id in fresh:
                await notifications.notify(
                    session, recipients=[member_id], type=TYPE, data=item.data(member_id), actor=None
                )
            await commit_own(session)
            told += len(fresh)
    return told
