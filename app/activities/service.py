"""Activity rules: create, read with the right view, edit, cancel."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, update
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.activities import places
from app.activities.hooks import Change, hooks
from app.activities.models import (
    Activity,
    ActivityCreate,
    ActivityStatus,
    ActivityUpdate,
    Participant,
    ParticipantStatus,
)
from app.activities.views import HOST, PARTICIPANT, PUBLIC, ParticipantItem
from app.auth.callers import Caller
from app.core import series
from app.core.crud import versioned_update
from app.core.errors import Conflict, Forbidden, Invalid, NotFound
from app.core.pagination import decode_seq_cursor, encode_cursor
from app.core.timeutil import utcnow
from app.geo import located
from app.members import service as members
from app.members.suspension import member_suspended, suspended_among
from app.organizations import service as organizations
from app.organizations.models import Scope
from app.safety import blocks
from app.vocab import Accessibility, Mode, mask
from app.webhooks import service as webhooks
from app.webhooks.models import EventType

_LOCATED = ("lat", "lon", "approx_lat", "approx_lon", "h3_r4", "h3_r6", "h3_r8")
_TIMES = ("starts_at", "ends_at", "timezone", "recurrence")


def _location_columns(location: dict[str, float] | None) -> dict[str, Any]:
    return dict.fromkeys(_LOCATED) if location is None else located(location["lat"], location["lon"])


def event(type: EventType, activity: Activity) -> webhooks.Event:
    return webhooks.activity_event(
        type, organization_id=activity.organization_id, activity_id=activity.id, status=activity.status
    )


def hosting_organization(caller: Caller, organization_id: uuid.UUID | None) -> uuid.UUID | None:
    """A key hosts for its own organisation; a member for one they coordinate. Naming another is
    a 422 that does not say whether it exists."""
    if caller.key_id is not None:
        if organization_id is not None and organization_id != caller.key_organization_id:
            raise _not_yours()
        return caller.key_organization_id
    if organization_id is None or caller.acts_for(organization_id):
        return organization_id
    raise _not_yours()


def _not_yours() -> Invalid:
    return Invalid("No such organization, or you do not coordinate it.", loc=["body", "organization_id"])


def _shape(mode: str, location: Any) -> None:
    if mode == Mode.in_person and location is None:
        raise Invalid("location is required for in_person activities.", loc=["body", "location"])


async def create_activity(
    session: AsyncSession, *, caller: Caller, data: ActivityCreate, limits: series.Limits
) -> Activity:
    organization_id = hosting_organization(caller, data.organization_id)
    _shape(data.mode, data.location)
    plan = series.build(
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        timezone=data.timezone,
        rule_text=data.recurrence.rule if data.recurrence else None,
        until=data.recurrence.until if data.recurrence else None,
        limits=limits,
    )
    fields = data.model_dump(exclude={"organization_id", "location", "recurrence"})
    activity = Activity(
        host_id=caller.member_id,
        organization_id=organization_id,
        **fields,
        **_location_columns(data.location.model_dump() if data.location else None),
        **plan.columns(),
        accessibility_mask=mask(data.accessibility, Accessibility),
    )
    session.add(activity)
    await session.flush()
    await webhooks.emit(session, [event(EventType.activity_created, activity)])
    return activity


async def for_directories(session: AsyncSession, *, offset: int, limit: int) -> tuple[list[Activity], int]:
    """(open, not yet ended activities that organisations host, soonest first from `offset`, how
    many there are): what a public directory may list. A member's own activity is never listed."""
    listed = (
        col(Activity.organization_id).is_not(None),
        col(Activity.status) == ActivityStatus.open,
        col(Activity.last_ends_at) > utcnow(),
    )
    total = (await session.exec(select(func.count()).select_from(Activity).where(*listed))).one()
    stmt = select(Activity).where(*listed).order_by(col(Activity.starts_at), col(Activity.id))
    return list((await session.exec(stmt.offset(offset).limit(limit))).all()), int(total)


def hosts(activity: Activity, caller: Caller) -> bool:
    """Who hosts it now: an organisation's activity, its coordinators and its keys that may write
    activities; a member's own, that member. Owner rights follow current roles, as for needs
    filed for someone: the coordinator who made an organisation's activity hosts it only while
    still a coordinator (`hosted_by` is the same rule in SQL, for members)."""
    if activity.organization_id is not None:
        # A key hosts with the scope that lets it host alone (`activities:write`): one made for
        # webhooks or needs never reads where its organisation's activities meet.
        return caller.acts_for(activity.organization_id) and caller.has_scope(Scope.activities_write)
    return caller.member_id is not None and activity.host_id == caller.member_id


def hosted_by(member_id: uuid.UUID) -> ColumnElement[bool]:
    """`hosts` in SQL, for a member known by id alone (a calendar feed's token): the member's own
    activities, and the organisations' they made and still coordinate."""
    coordinated = organizations.coordinated_sql(member_id)
    return and_(
        col(Activity.host_id) == member_id,
        or_(col(Activity.organization_id).is_(None), col(Activity.organization_id).in_(coordinated)),
    )


async def read_activity(
    session: AsyncSession, *, activity_id: uuid.UUID, caller: Caller
) -> tuple[Activity, str, str | None]:
    """(activity, view, the caller's own place). Every activity is public; confirmed
    participants also see where it is, and so does whoever hosts it."""
    activity = await session.get(Activity, activity_id)
    if activity is None or not await may_see(session, activity, caller.member_id):
        raise NotFound("No such activity.")
    mine = await places.status_of(session, activity_id=activity.id, member_id=caller.member_id)
    if hosts(activity, caller):
        return activity, HOST, mine
    return activity, PARTICIPANT if mine == places.CONFIRMED else PUBLIC, mine


async def may_see(session: AsyncSession, activity: Activity, member_id: uuid.UUID | None) -> bool:
    """Anyone may, but a member and a host either of whom blocked the other (as for needs and
    offers: 404, never "blocked"); and nobody an activity a suspended member hosts for
    themselves, as their offers and needs stop appearing while they are suspended (an
    organisation's activity stays: it is the organisation's). `visible_sql` is the same rule in
    SQL, for lists and calendar feeds."""
    if activity.host_id is None:
        return True
    if activity.organization_id is None and await suspended_among(
        session, member_ids=[activity.host_id], now=utcnow()
    ):
        return False
    return not await blocks.hides(session, viewer=member_id, owner=activity.host_id)


def visible_sql(member_id: uuid.UUID | None, now: datetime) -> list[ColumnElement[bool]]:
    """`may_see` over the activities table, for the member `member_id` (None: anonymous)."""
    host = col(Activity.host_id)
    conditions = [
        or_(col(Activity.organization_id).is_not(None), host.is_(None), ~member_suspended(host, now))
    ]
    if member_id is not None:  # a host either of you blocked is not there for you
        conditions.append(blocks.not_blocked_with(host, member_id))
    return conditions


async def part(session: AsyncSession, *, members: tuple[uuid.UUID, uuid.UUID], now: datetime) -> None:
    """Two members parted (a block): each one's place on the other's activities is given up, and
    the places it frees are filled. The one who leaves is not told (a block is never announced);
    whoever is promoted is."""
    a, b = members
    stmt = (
        select(Participant.activity_id, Participant.member_id)
        .join(Activity, col(Activity.id) == col(Participant.activity_id))
        .where(
            or_(
                and_(col(Participant.member_id) == a, col(Activity.host_id) == b),
                and_(col(Participant.member_id) == b, col(Activity.host_id) == a),
            )
        )
        .order_by(col(Participant.activity_id))
    )
    for activity_id, member_id in (await session.exec(stmt)).all():
        await leave(session, activity_id=activity_id, member_id=member_id, removed=False)


async def hosted_activity(session: AsyncSession, *, activity_id: uuid.UUID, caller: Caller) -> Activity:
    activity, role, _ = await read_activity(session, activity_id=activity_id, caller=caller)
    if role != HOST:
        raise Forbidden("Only the activity's host and its organization can do this.")
    return activity


async def join(
    session: AsyncSession, *, activity_id: uuid.UUID, member_id: uuid.UUID
) -> tuple[Participant, bool]:
    """(the member's place, whether it is new). A member who may not see it (`may_see`: a block,
    a suspended host) finds nothing to join, as if the activity were not there."""
    activity = await session.get(Activity, activity_id)
    if activity is None or not await may_see(session, activity, member_id):
        raise NotFound("No such activity.")
    return await places.join(session, activity_id=activity_id, member_id=member_id)


async def leave(
    session: AsyncSession, *, activity_id: uuid.UUID, member_id: uuid.UUID, removed: bool
) -> None:
    """The member leaves (or, `removed`, the host takes them off); a freed place is filled."""
    promoted = await places.leave(session, activity_id=activity_id, member_id=member_id)
    if removed:
        await hooks().tell(session, activity_id=activity_id, member_ids=[member_id], change=Change.removed)
    activity = await session.get(Activity, activity_id)  # locked by places.leave: no query
    # Promoted all the same, but not told of an activity hidden from everyone (a suspended host).
    if promoted and activity is not None and await may_see(session, activity, None):
        await hooks().tell(session, activity_id=activity_id, member_ids=promoted, change=Change.promoted)


async def participant_page(
    session: AsyncSession, *, activity_id: uuid.UUID, caller: Caller, limit: int, cursor: str | None
) -> tuple[list[ParticipantItem], str | None]:
    """Everyone on the activity in arrival order, with their display names (the host's list),
    but anyone blocked either way with the caller."""
    # `seq` is a 32-bit integer column.
    after = decode_seq_cursor(cursor, "p", below=2**31) if cursor else None
    rows = await places.participants(
        session, activity_id=activity_id, after=after, limit=limit, viewer=caller.member_id
    )
    names = await members.display_names(session, member_ids=[p.member_id for p in rows[:limit]])
    items = [
        ParticipantItem(
            member_id=p.member_id,
            display_name=names.get(p.member_id, ""),
            status=ParticipantStatus(p.status),
            joined_at=p.joined_at,
        )
        for p in rows[:limit]
    ]
    next_cursor = encode_cursor("p", rows[limit - 1].seq) if len(rows) > limit else None
    return items, next_cursor


async def calendar_activity(session: AsyncSession, *, activity_id: uuid.UUID, caller: Caller) -> Activity:
    """The activity, for its calendar: the host's and confirmed participants' alone (it carries
    the address)."""
    activity, role, _ = await read_activity(session, activity_id=activity_id, caller=caller)
    if role == PUBLIC:
        raise Forbidden("The calendar is for the host and confirmed participants.")
    return activity


def _open(activity: Activity) -> None:
    if activity.status != ActivityStatus.open:
        raise Conflict(f"A {activity.status} activity cannot be changed.")


async def update_activity(
    session: AsyncSession,
    *,
    activity: Activity,
    data: ActivityUpdate,
    if_match: set[int] | None,
    limits: series.Limits,
) -> Activity:
    """Edit; a new time or rule is checked as a whole series, a larger capacity fills places
    from the waitlist in arrival order."""
    activity = await places.lock(session, activity_id=activity.id)
    _open(activity)
    sent = data.model_dump(exclude_unset=True)
    location = sent.pop("location", None) if "location" in sent else _stored_location(activity)
    _shape(sent.get("mode", activity.mode), location)
    values: dict[str, Any] = {k: v for k, v in sent.items() if k not in _TIMES}
    if "location" in data.model_fields_set:
        values.update(_location_columns(location))
    if "accessibility" in sent:
        values["accessibility_mask"] = mask(sent["accessibility"], Accessibility)
    if data.model_fields_set & set(_TIMES):
        recurrence = sent["recurrence"] if "recurrence" in sent else _stored_recurrence(activity)
        plan = series.build(
            starts_at=sent.get("starts_at", activity.starts_at),
            ends_at=sent.get("ends_at", activity.ends_at),
            timezone=sent.get("timezone", activity.timezone),
            rule_text=recurrence["rule"] if recurrence else None,
            until=recurrence.get("until") if recurrence else None,
            limits=limits,
        )
        values.update({k: sent[k] for k in ("starts_at", "ends_at", "timezone") if k in sent})
        values.update(plan.columns())

    async def announce() -> None:
        await webhooks.emit(session, [event(EventType.activity_updated, activity)])

    await versioned_update(session, activity, values, if_match=if_match, noun="activity", and_then=announce)
    if "capacity" in sent:
        promoted = await places.fill(session, activity_id=activity.id)
        if promoted:
            await hooks().tell(session, activity_id=activity.id, member_ids=promoted, change=Change.promoted)
        await session.refresh(activity)
    return activity


def _stored_location(activity: Activity) -> dict[str, float] | None:
    return (
        {"lat": activity.lat, "lon": activity.lon}
        if activity.lat is not None and activity.lon is not None
        else None
    )


def _stored_recurrence(activity: Activity) -> dict[str, Any] | None:
    if activity.recurrence_rule is None:
        return None
    return {"rule": activity.recurrence_rule, "until": activity.recurrence_until}


async def cancel_activity(session: AsyncSession, *, activity: Activity) -> Activity:
    """Cancel it; every participant, confirmed or waitlisted, is told."""
    activity = await places.lock(session, activity_id=activity.id)
    _open(activity)
    result = await session.exec(
        update(Activity)
        .where(col(Activity.id) == activity.id, col(Activity.status) == ActivityStatus.open)
        .values(status=ActivityStatus.cancelled, version=col(Activity.version) + 1, updated_at=utcnow())
    )
    if result.rowcount != 1:
        raise Conflict("The activity was cancelled at the same moment.")
    await session.refresh(activity)
    everyone = (
        await session.exec(select(Participant.member_id).where(col(Participant.activity_id) == activity.id))
    ).all()
    await hooks().tell(session, activity_id=activity.id, member_ids=list(everyone), change=Change.cancelled)
    await webhooks.emit(session, [event(EventType.activity_cancelled, activity)])
    return activity
