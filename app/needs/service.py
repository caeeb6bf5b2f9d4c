"""Need rules: create, read with the right view, update, cancel."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit import service as audit
from app.auth.callers import Caller
from app.core.config import TrustLimits
from app.core.crud import versioned_update
from app.core.errors import Conflict, Forbidden, Invalid, NotFound
from app.core.series import Limits, Recurrence
from app.core.timeutil import utcnow
from app.core.transactions import savepoint
from app.core.types import Point
from app.geo import located
from app.members.suspension import member_suspended
from app.needs import hooks, occurrences, quota, slots
from app.needs.models import Approval, Need, NeedCreate, NeedStatus, NeedUpdate, OccurrenceStatus, Visibility
from app.needs.views import OWNER, PARTICIPANT, PUBLIC, effective_status
from app.organizations import service as organizations
from app.safety import blocks
from app.safety import service as safety
from app.safety.catalogue import Catalogue
from app.safety.models import CrisisResource
from app.vocab import Capability, mask
from app.webhooks import service as webhooks
from app.webhooks.models import EventType

_LOCATED_FIELDS = ("lat", "lon", "approx_lat", "approx_lon", "h3_r4", "h3_r6", "h3_r8")
EDITABLE = (NeedStatus.open, NeedStatus.matched)
# A change to any of these lays the series out again (and forgets cancelled occurrences).
_SERIES_FIELDS = {"window_start", "window_end", "timezone", "recurrence"}


def _location_columns(lat: float | None, lon: float | None) -> dict[str, Any]:
    return dict.fromkeys(_LOCATED_FIELDS) if lat is None or lon is None else located(lat, lon)


def _flatten(data: dict[str, Any]) -> dict[str, Any]:
    """Body fields to columns: location and contact become their column pairs."""
    out = {k: v for k, v in data.items() if k not in ("location", "contact", "recurrence")}
    if "location" in data:
        loc = data["location"]
        out.update(_location_columns(loc["lat"], loc["lon"]) if loc else _location_columns(None, None))
    if "contact" in data:
        contact = data["contact"]
        out["contact_name"] = contact["name"] if contact else None
        out["contact_phone"] = contact["phone"] if contact else None
    if data.get("requirements") is not None:
        out["requirements_mask"] = mask(data["requirements"], Capability)
    return out


async def owning_organization(
    session: AsyncSession, caller: Caller, organization_id: uuid.UUID | None
) -> uuid.UUID | None:
    """The organisation a new need belongs to: a key's own, or one the member belongs to.

    Naming any other is a 422 that does not say whether the organisation exists."""
    if caller.key_id is not None:
        if organization_id is not None and organization_id != caller.key_organization_id:
            raise _not_yours()
        return caller.key_organization_id
    if organization_id is None or organization_id in caller.coordinator_of:
        return organization_id
    assert caller.member_id is not None
    if not await organizations.is_member(
        session, organization_id=organization_id, member_id=caller.member_id
    ):
        raise _not_yours()
    return organization_id


def _not_yours() -> Invalid:
    return Invalid("No such organization, or you cannot file needs for it.", loc=["body", "organization_id"])


def check_approval(approval: Approval | None, organization_id: uuid.UUID | None, caller: Caller) -> None:
    """`automatic` lets any eligible stranger's claim through to the need's contact and exact
    location at once: only the organisation that stands behind the need (its coordinators and
    keys) may choose that; a member may not, even for a need filed under an organisation."""
    if approval == Approval.automatic and not caller.acts_for(organization_id):
        raise Invalid(
            "Only an organization may set approval=automatic, on its own needs (as a coordinator or "
            "with its API key): a member's need waits for them to accept each volunteer's claim.",
            loc=["body", "approval"],
        )


def series_columns(data: NeedCreate, recurring: Limits) -> dict[str, Any]:
    """A new need's series columns; Invalid (422) when its recurrence breaks a rule or the limits."""
    return occurrences.columns(
        window_start=data.window_start,
        window_end=data.window_end,
        timezone=data.timezone,
        recurrence_body=data.recurrence.model_dump() if data.recurrence is not None else None,
        limits=recurring,
    )


def check_create(
    data: NeedCreate, organization_id: uuid.UUID | None, caller: Caller, recurring: Limits
) -> None:
    check_approval(data.approval, organization_id, caller)
    series_columns(data, recurring)
    if data.window_end is not None and data.window_end <= utcnow():
        raise Invalid("window_end is in the past.", loc=["body", "window_end"])
    if organization_id is None and data.visibility == Visibility.organization:
        raise Invalid("visibility=organization needs an organization_id.", loc=["body", "visibility"])
    if organization_id is None and Capability.background_checked in data.requirements:
        # Only an organisation that vets its volunteers can stand behind a background check.
        raise Invalid(
            "background_checked needs the need to belong to an organization.", loc=["body", "requirements"]
        )
    if data.external_id is not None and organization_id is not None and not caller.acts_for(organization_id):
        # A duplicate's 409 names the existing need: only the organisation itself may ask.
        raise Invalid(
            "Only the organization's coordinators and keys set external_id.", loc=["body", "external_id"]
        )
    if organization_id is None and data.external_id is not None:
        raise Invalid("external_id is unique within an organization; name one.", loc=["body", "external_id"])


def new_need(caller: Caller, organization_id: uuid.UUID | None, data: NeedCreate, recurring: Limits) -> Need:
    """A member's own need, or, filed by the organisation's coordinator or key, the organisation's.

    An organisation's need has no requester: its rights follow current roles (`role_of`), and
    `filed_by_*` only records who typed it. A recurring one keeps to `recurring` (422 otherwise)."""
    fields = _flatten(data.model_dump(exclude={"organization_id"})) | series_columns(data, recurring)
    if caller.acts_for(organization_id):
        return Need(
            organization_id=organization_id,
            filed_by_member_id=caller.member_id,
            filed_by_key_id=caller.key_id,
            **fields,
        )
    return Need(requester_id=caller.member_id, organization_id=organization_id, **fields)


async def existing_ids(
    session: AsyncSession, organization_id: uuid.UUID | None, external_ids: list[str]
) -> dict[str, uuid.UUID]:
    """Needs already filed under these external ids in the organisation."""
    if organization_id is None or not external_ids:
        return {}
    stmt = select(Need.external_id, Need.id).where(
        col(Need.organization_id) == organization_id, col(Need.external_id).in_(external_ids)
    )
    return {ext: need_id for ext, need_id in (await session.exec(stmt)).all() if ext is not None}


def duplicate(existing_id: uuid.UUID) -> Conflict:
    return Conflict(
        "A need with this external_id already exists in this organization.", existing_id=str(existing_id)
    )


def need_event(type: EventType, need: Need, status: str) -> webhooks.Event:
    return webhooks.need_event(type, organization_id=need.organization_id, need_id=need.id, status=status)


def created_event(need: Need) -> webhooks.Event:
    return need_event(EventType.need_created, need, NeedStatus.open)


async def create_need(
    session: AsyncSession, *, caller: Caller, data: NeedCreate, limits: TrustLimits | None, recurring: Limits
) -> Need:
    """File a need; a member's own (not their organisation's intake) counts against `limits`:
    429 with Retry-After once the day's are spent. A recurring need keeps to `recurring`."""
    organization_id = await owning_organization(session, caller, data.organization_id)
    check_create(data, organization_id, caller, recurring)
    if limits is not None and quota.counted(caller, organization_id):
        (await quota.allowance(session, caller=caller, limits=limits, now=utcnow())).take()
    need = new_need(caller, organization_id, data, recurring)
    try:
        async with savepoint(session):
            session.add(need)
            await webhooks.emit(session, [created_event(need)])
    except IntegrityError:
        # The unique (organization_id, external_id) index settles races, not an earlier read.
        found = await existing_ids(session, organization_id, [data.external_id or ""])
        if data.external_id in found:
            raise duplicate(found[data.external_id]) from None
        raise
    await announce_created(session, needs=[need], caller=caller)
    return need


async def announce_created(session: AsyncSession, *, needs: Sequence[Need], caller: Caller) -> None:
    """What every creation of needs, one (`create_need`) or a partner's batch (app.needs.intake),
    tells beyond its webhooks: the public ones reach the volunteers nearby who asked to hear
    (the `published` hook: app.dispatch.alerts)."""
    public = [n for n in needs if n.visibility == Visibility.public]
    await hooks.published(session, needs=public, actor=caller.member_id)


def role_of(need: Need, caller: Caller) -> str | None:
    """The caller's view of a need, or None when it must not exist for them.

    The one decision on need ownership (reads, edits, matches, candidates and audit all ask it):
    the requester owns their own need; an organisation's need belongs to whoever acts for the
    organisation on this request (its coordinators as the caller's roles are read now, its
    unrevoked keys). Who filed a need grants nothing."""
    if caller.member_id is not None and need.requester_id == caller.member_id:
        return OWNER
    if caller.acts_for(need.organization_id):
        return OWNER
    if need.visibility == Visibility.public:
        return PUBLIC
    return None


# Built once: building it per read (and its suspension clause) cost more CPU than sending it.
_NEED_READ = select(Need, member_suspended(col(Need.requester_id), bindparam("now"))).where(
    col(Need.id) == bindparam("need_id")
)


async def get_visible_need(session: AsyncSession, *, need_id: uuid.UUID, caller: Caller) -> tuple[Need, str]:
    """The need and the caller's view of it: every read and change of a need passes here.

    404 when the caller may not see it, or when the caller and its requester are blocked
    either way (app.safety.blocks), whatever role the caller holds."""
    # The need and whether its requester is suspended now, in one statement: a suspended
    # member's needs leave public view (their organisation still sees them).
    found = (await session.exec(_NEED_READ, params={"need_id": need_id, "now": utcnow()})).first()
    need, suspended = found if found is not None else (None, False)
    if need is not None and await blocks.hides(session, viewer=caller.member_id, owner=need.requester_id):
        need = None
    role = role_of(need, caller) if need is not None else None
    if need is not None and role != OWNER and caller.member_id is not None:
        tie = await hooks.matches().relation(session, need_id=need.id, member_id=caller.member_id)
        # An accepted volunteer sees where to go and whom to call; a proposed one sees the need.
        if tie == "accepted":
            role = PARTICIPANT
        elif tie == "proposed":
            role = role or PUBLIC
    if need is None or role is None or (role == PUBLIC and suspended):
        raise NotFound("No such need.")
    return need, role


async def read_need(session: AsyncSession, *, need_id: uuid.UUID, caller: Caller) -> tuple[Need, str]:
    """A need as the caller may see it; private fields shown to anyone but the requester are audited."""
    need, role = await get_visible_need(session, need_id=need_id, caller=caller)
    if role != PUBLIC:
        await audit.record(session, caller=caller, needs=[need])
    return need, role


async def get_owned_need(session: AsyncSession, *, need_id: uuid.UUID, caller: Caller) -> Need:
    need, role = await get_visible_need(session, need_id=need_id, caller=caller)
    if role != OWNER:
        raise Forbidden("Only the need's owner can change it.")
    return need


async def update_need(
    session: AsyncSession,
    *,
    caller: Caller,
    need: Need,
    data: NeedUpdate,
    if_match: set[int] | None,
    recurring: Limits,
) -> Need:
    """Change a need; the owner's answer shows its private fields, so that is audited with it."""
    changes = data.model_dump(mode="json", exclude_unset=True)
    if effective_status(need) not in EDITABLE:
        raise Conflict(f"A {effective_status(need)} need cannot be changed.")
    # Not validated again: a stored value the rules have since tightened (an old window, say)
    # must not make every edit of the need fail; only the sent fields were validated.
    stored = {
        "mode": need.mode,
        "location": None if need.lat is None or need.lon is None else Point(lat=need.lat, lon=need.lon),
        "window_start": need.window_start,
        "window_end": need.window_end,
        "timezone": need.timezone,
        "recurrence": None
        if need.recurrence_rule is None
        else Recurrence(rule=need.recurrence_rule, until=need.recurrence_until),
    }
    sent = {name: getattr(data, name) for name in data.model_fields_set}
    merged = NeedUpdate.model_construct(**(stored | sent))
    problem = merged.shape_problem()
    if problem is not None:
        raise Invalid(problem, loc=["body"])
    if "window_end" in changes and merged.window_end is not None and merged.window_end <= utcnow():
        raise Invalid("window_end is in the past.", loc=["body", "window_end"])
    check_approval(data.approval, need.organization_id, caller)
    if changes.get("visibility") == Visibility.organization and need.organization_id is None:
        raise Invalid(
            "visibility=organization needs the need to belong to an organization.", loc=["body", "visibility"]
        )
    values = _flatten(changes)
    if "volunteers_needed" in changes:
        # The CHECK constraint refuses fewer slots than accepted volunteers; status follows the count.
        needed = changes["volunteers_needed"]
        values["status"] = case(
            (
                and_(col(Need.status) == NeedStatus.open, col(Need.volunteers_accepted) >= needed),
                NeedStatus.matched,
            ),
            (
                and_(col(Need.status) == NeedStatus.matched, col(Need.volunteers_accepted) < needed),
                NeedStatus.open,
            ),
            else_=col(Need.status),
        )
    for field in ("window_start", "window_end"):
        if field in changes:
            values[field] = getattr(merged, field)
    if changes.keys() & _SERIES_FIELDS:
        values |= occurrences.columns(
            window_start=merged.window_start,
            window_end=merged.window_end,
            timezone=merged.timezone,
            recurrence_body=merged.recurrence.model_dump() if merged.recurrence is not None else None,
            limits=recurring,
        )

    async def announce() -> None:
        if need.organization_id is None:
            return  # nobody subscribes to needs outside organisations
        # The status may have moved with volunteers_needed: read what the UPDATE wrote.
        await session.refresh(need, attribute_names=["status"])
        await webhooks.emit(session, [need_event(EventType.need_updated, need, need.status)])

    was_public = need.visibility == Visibility.public
    await versioned_update(session, need, values, if_match=if_match, noun="need", and_then=announce)
    if "volunteers_needed" in changes:
        await slots.check_room(session, need_id=need.id, now=utcnow())
    if not was_public and need.visibility == Visibility.public:
        await hooks.published(session, needs=[need], actor=caller.member_id)
    await audit.record(session, caller=caller, needs=[need])
    return need


async def cancel_need(session: AsyncSession, *, caller: Caller, need: Need) -> Need:
    status = effective_status(need)
    if status not in EDITABLE:
        raise Conflict(f"A {status} need cannot be cancelled.")
    await end_need(session, need=need, now=utcnow(), actor=caller.member_id)
    await session.refresh(need)
    await audit.record(session, caller=caller, needs=[need])  # the answer shows the private fields
    return need


async def end_need(session: AsyncSession, *, need: Need, now: datetime, actor: uuid.UUID | None) -> None:
    """Cancel an open or matched need, its active matches with it (by its owner, or by a moderator);
    `actor`, the member who did it, is not notified of it."""
    matches = hooks.matches()
    await matches.lock(session, need_id=need.id)
    result = await session.exec(
        update(Need)
        .where(col(Need.id) == need.id, col(Need.version) == need.version)
        .values(status=NeedStatus.cancelled, version=need.version + 1, updated_at=now)
    )
    if result.rowcount != 1:
        raise Conflict("The need was changed by someone else at the same moment; try again.")
    await webhooks.emit(session, [need_event(EventType.need_cancelled, need, NeedStatus.cancelled)])
    await matches.end(session, need_id=need.id, now=now, actor=actor)


async def cancel_occurrence(session: AsyncSession, *, need: Need, start: datetime) -> occurrences.Occurrence:
    """Cancel one open occurrence of the owner's recurring need (stored as an exception, like an
    EXDATE), as a change of the need. 404 when the series has no occurrence then, 409 when it is past
    or cancelled already, or is the last open one (cancel the need instead)."""
    now = utcnow()
    if effective_status(need) not in EDITABLE:
        raise Conflict(f"A {effective_status(need)} need's occurrences cannot be cancelled.")
    found = occurrences.find(need, start, now) if occurrences.recurs(need) else None
    if found is None:
        raise NotFound("The need has no occurrence starting then.")
    if found.status != OccurrenceStatus.open:
        raise Conflict(f"That occurrence is {found.status} already.")
    cancelled = {*need.cancelled_occurrences, occurrences.key(found.start)}
    if occurrences.next_open(_with_cancelled(need, cancelled), now) is None:
        raise Conflict("That is the need's last open occurrence: cancel the need instead.")
    values = {
        "cancelled_occurrences": sorted(cancelled),
        "last_ends_at": occurrences.last_open_end(need, cancelled),
    }

    async def announce() -> None:
        if need.organization_id is not None:  # nobody subscribes to needs outside organisations
            await webhooks.emit(session, [need_event(EventType.need_updated, need, need.status)])

    # A change like any edit: a new version and updated_at, and need.updated to the organisation.
    # Not an exposure row: the answer shows no private field.
    await versioned_update(session, need, values, if_match=None, noun="need", and_then=announce)
    await slots.forget_occurrence(session, need_id=need.id, start=found.start)
    return occurrences.Occurrence(found.start, found.end, OccurrenceStatus.cancelled)


def _with_cancelled(need: Need, cancelled: set[str]) -> Need:
    return need.model_copy(update={"cancelled_occurrences": sorted(cancelled)})


async def crisis_resources(catalogue: Catalogue, *, need: Need, caller: Caller) -> list[CrisisResource]:
    """Helplines for the author when the need's text reads as a crisis (app/safety); computed for
    this response only: nothing is stored, logged or sent anywhere."""
    languages = need.languages or (list(caller.member.languages) if caller.member is not None else [])
    return await safety.resources_for(
        catalogue, texts=[need.title, need.description], lat=need.lat, lon=need.lon, languages=languages
    )
