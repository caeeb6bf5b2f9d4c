"""What a member's personal feed holds, read fresh on every fetch: the activities they host or are
confirmed on, and the needs of their accepted matches (as volunteer or as requester).

Each entry shows only what that member may see (docs/API Views): an activity's address and point
reach its host and confirmed participants, a need's its owner and the volunteer of an accepted
match; nothing names the other person. A match that ended, a place given up, a cancelled activity
or need, or a block between the two people drops the entry on the next fetch.
"""

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.activities import calendar as activity_calendar
from app.activities import service as activities
from app.activities.models import Activity, ActivityStatus, Participant, ParticipantStatus
from app.core import ical
from app.core.timeutil import utcnow
from app.matches.models import Match, MatchStatus
from app.needs import occurrences
from app.needs.models import Need, NeedStatus, OccurrenceStatus
from app.safety import blocks

PRODID = "-//Mutual aid API//personal calendar//EN"
# Needs whose matches may still be in the feed: a cancelled need's matches are cancelled with it.
_LIVE_NEEDS = (NeedStatus.open, NeedStatus.matched, NeedStatus.expired)


@dataclass(frozen=True)
class Shown:
    """A need whose location and address a volunteer's entry shows (what the audit records)."""

    id: uuid.UUID
    requester_id: uuid.UUID | None
    organization_id: uuid.UUID | None
    lat: float | None
    address: str | None
    contact_name: None = None  # never in a calendar


async def activity_entries(session: AsyncSession, *, member_id: uuid.UUID) -> list[ical.Entry]:
    """Open activities the member hosts now (`activities.hosted_by`: a former coordinator's
    organisation activities are gone) or holds a confirmed place on, that they may see
    (`activities.visible_sql`: no host they are blocked with, a block also giving the place up;
    none a suspended member hosts for themselves)."""
    confirmed = select(Participant.activity_id).where(
        col(Participant.member_id) == member_id, col(Participant.status) == ParticipantStatus.confirmed
    )
    stmt = (
        select(Activity)
        .where(
            col(Activity.status) == ActivityStatus.open,
            or_(activities.hosted_by(member_id), col(Activity.id).in_(confirmed)),
            *activities.visible_sql(member_id, utcnow()),
        )
        .order_by(col(Activity.starts_at), col(Activity.id))
    )
    return [activity_calendar.entry(a) for a in (await session.exec(stmt)).all()]


async def accepted_matches(session: AsyncSession, *, member_id: uuid.UUID) -> list[tuple[Match, Need]]:
    """The member's accepted matches, either side, on needs with a window, with nobody blocked."""
    stmt = (
        select(Match, Need)
        .join(Need, col(Need.id) == col(Match.need_id))
        .where(
            col(Match.status) == MatchStatus.accepted,
            or_(col(Match.volunteer_id) == member_id, col(Match.requester_id) == member_id),
            col(Need.status).in_(_LIVE_NEEDS),
            col(Need.window_start).is_not(None),
            col(Need.window_end).is_not(None),
            blocks.not_blocked_with(col(Match.volunteer_id), member_id),
            blocks.not_blocked_with(col(Match.requester_id), member_id),
        )
        .order_by(col(Match.created_at), col(Match.id))
    )
    return [(m, n) for m, n in (await session.exec(stmt)).all()]


def match_entry(match: Match, need: Need, *, now: datetime) -> ical.Entry | None:
    """The match's VEVENT: the need's whole series (RRULE to its last start, EXDATE for each
    cancelled occurrence), or the one occurrence the match names (None once that is cancelled)."""
    # accepted_matches' filter
    assert need.window_start is not None
    assert need.window_end is not None
    base = ical.Entry(
        uid=f"{match.id}@matches.mutual-aid.example",
        summary=need.title,
        start=need.window_start,
        end=need.window_end,
        timezone=need.timezone or "UTC",
        last_end=need.window_end,
        sequence=need.version,
        location=need.address,
        geo=(need.lat, need.lon) if need.lat is not None and need.lon is not None else None,
    )
    if match.occurrence_start is not None:
        found = occurrences.find(need, match.occurrence_start, now)
        if found is None or found.status == OccurrenceStatus.cancelled:
            return None
        return replace(base, start=found.start, end=found.end, last_end=found.end)
    if not occurrences.recurs(need) or need.recurrence_rule is None:
        return base
    return replace(
        base,
        last_end=need.last_ends_at or need.window_end,
        rrule=ical.rule(need.recurrence_rule, until=need.last_starts_at or need.window_start),
        exdates=[datetime.fromisoformat(c) for c in need.cancelled_occurrences],
    )


def shown_to_volunteer(match: Match, need: Need, member_id: uuid.UUID) -> Shown | None:
    """What a volunteer's entry exposes of the need's private fields, for the audit (None for the
    requester's own need, or when it shows none)."""
    if match.volunteer_id != member_id or (need.lat is None and need.address is None):
        return None
    return Shown(need.id, need.requester_id, need.organization_id, need.lat, need.address)
