"""HTTP routes for activities: thin, the rules live in the services."""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from app.activities import calendar, replays, search, service
from app.activities.models import ActivityCreate, ActivityKind, ActivityUpdate, ParticipantStatus
from app.activities.views import (
    HOST,
    ActivityHost,
    ActivityView,
    JoinResult,
    ParticipantItem,
    render,
    render_host,
)
from app.auth.callers import Caller
from app.auth.deps import ANONYMOUS_WELCOME, MemberCaller, scoped
from app.core import series
from app.core.config import Settings
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import problems
from app.core.etag import IfMatch, etag, parse_if_match
from app.core.pagination import Cursor, Limit, Page
from app.core.schema import RFC3339, instant_in
from app.core.timeutil import utcnow
from app.geo import MAX_RADIUS_KM
from app.idempotency.replays import replayed_by, verbatim
from app.organizations.models import Scope
from app.spatial import NEAR, parse_near
from app.vocab import Accessibility, Mode

router = APIRouter(prefix="/activities", tags=["activities"])

Reader = Annotated[Caller, Depends(scoped(anonymous=True))]
Signed = Annotated[Caller, Depends(scoped())]
# Hosting for an organisation, and what only hosts do (edit, cancel, see and remove participants).
Writer = Annotated[Caller, Depends(scoped(Scope.activities_write))]
PRIVATE = {"Cache-Control": "no-store"}


def _instant(name: str, value: str | None) -> datetime | None:
    return instant_in("query", name, value)


def _limits(settings: Settings) -> series.Limits:
    return series.Limits.of(settings)


@router.post("", status_code=201, response_model=ActivityHost, responses=problems(401, 403, 422))
@replayed_by(replays.hosted)
async def create_activity(
    data: ActivityCreate, caller: Writer, session: SessionDep, settings: SettingsDep, response: Response
) -> ActivityHost:
    """Host an activity: yourself, or (`organization_id`; coordinators and partner keys) for an
    organisation. A recurring one takes an RRULE, expanded on the activity's own clock. The
    address and exact location are shown only to the host and confirmed participants."""
    activity = await service.create_activity(session, caller=caller, data=data, limits=_limits(settings))
    response.headers.update({"ETag": etag(activity.version), "Location": f"/v1/activities/{activity.id}"})
    return render_host(activity)


@router.get(
    "", response_model=Page[ActivityView], responses=problems(401, 403, 422), openapi_extra=ANONYMOUS_WELCOME
)
async def list_activities(
    session: SessionDep,
    caller: Reader,
    near: Annotated[
        str | None,
        Query(
            json_schema_extra={"pattern": NEAR},
            max_length=100,
            description="`<lat>,<lon>`: nearest first, within radius_km (else soonest first).",
            examples=["51.5074,-0.1278"],
        ),
    ] = None,
    radius_km: Annotated[float | None, Query(gt=0, le=MAX_RADIUS_KM, description="Default 10.")] = None,
    start: Annotated[
        str | None, Query(alias="from", pattern=RFC3339, description="Still running then (default now).")
    ] = None,
    end: Annotated[
        str | None, Query(alias="to", pattern=RFC3339, description="Beginning before then.")
    ] = None,
    kind: ActivityKind | None = None,
    mode: Mode | None = None,
    accessibility: Annotated[
        list[Accessibility] | None, Query(max_length=len(Accessibility), description="Has all of these.")
    ] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Page[ActivityView]:
    """Open activities that have not ended: the public view, the host view of your own, and
    where it is for those you are confirmed on."""
    filters = search.ActivityFilters(
        near=parse_near(near, radius_km),
        start=_instant("from", start),
        end=_instant("to", end),
        kind=kind,
        mode=mode,
        accessibility=tuple(accessibility or ()),
    )
    rows, next_cursor = await search.list_activities(
        session, caller=caller, filters=filters, limit=limit, cursor=cursor
    )
    items = [render(r.activity, r.role, r.my_status, r.distance_km) for r in rows]
    return Page[ActivityView](items=items, next_cursor=next_cursor)


@router.get(
    "/{activity_id:uuid}",
    response_model=ActivityView,
    responses=problems(401, 404, 422),
    openapi_extra=ANONYMOUS_WELCOME,
)
async def get_activity(
    activity_id: uuid.UUID, session: SessionDep, caller: Reader, response: Response
) -> ActivityView:
    activity, role, mine = await service.read_activity(session, activity_id=activity_id, caller=caller)
    if role == HOST:  # the version would tell strangers when the address changed
        response.headers["ETag"] = etag(activity.version)
    if mine is not None or role == HOST:
        response.headers.update(PRIVATE)
    return render(activity, role, mine)


@router.patch(
    "/{activity_id:uuid}", response_model=ActivityHost, responses=problems(401, 403, 404, 409, 412, 422)
)
async def update_activity(
    activity_id: uuid.UUID,
    data: ActivityUpdate,
    caller: Writer,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    if_match: IfMatch = None,
) -> ActivityHost:
    """Change an activity you host. Send `If-Match` with the ETag you read. A larger capacity
    confirms the earliest waitlisted, who are told."""
    activity = await service.hosted_activity(session, activity_id=activity_id, caller=caller)
    activity = await service.update_activity(
        session, activity=activity, data=data, if_match=parse_if_match(if_match), limits=_limits(settings)
    )
    response.headers["ETag"] = etag(activity.version)
    return render_host(activity)


@router.post(
    "/{activity_id:uuid}/cancel", response_model=ActivityHost, responses=problems(401, 403, 404, 409)
)
@replayed_by(replays.hosted)
async def cancel_activity(
    activity_id: uuid.UUID, caller: Writer, session: SessionDep, response: Response
) -> ActivityHost:
    """Cancel an activity you host; everyone on it, confirmed or waitlisted, is told."""
    activity = await service.hosted_activity(session, activity_id=activity_id, caller=caller)
    activity = await service.cancel_activity(session, activity=activity)
    response.headers["ETag"] = etag(activity.version)
    return render_host(activity)


@router.post(
    "/{activity_id:uuid}/join",
    status_code=201,
    response_model=JoinResult,
    responses={
        200: {"model": JoinResult, "description": "Already on it: the place held."},
        **problems(401, 403, 404, 409),
    },
)
@replayed_by(replays.joined)
async def join_activity(
    activity_id: uuid.UUID, caller: MemberCaller, session: SessionDep, response: Response
) -> JoinResult:
    """Take a place: `confirmed` while places are free, else `waitlisted` in arrival order
    (201). Joining again changes nothing and answers the place already held (200)."""
    assert caller.member_id is not None
    place, new = await service.join(session, activity_id=activity_id, member_id=caller.member_id)
    response.status_code = 201 if new else 200
    response.headers.update({**PRIVATE, "Location": f"/v1/activities/{activity_id}"})
    return JoinResult(
        activity_id=activity_id, status=ParticipantStatus(place.status), joined_at=place.joined_at
    )


@router.post("/{activity_id:uuid}/leave", status_code=204, responses=problems(401, 403, 404))
@replayed_by(verbatim)
async def leave_activity(activity_id: uuid.UUID, caller: MemberCaller, session: SessionDep) -> None:
    """Give up your place; a confirmed place goes to the earliest waitlisted, who is told."""
    assert caller.member_id is not None
    await service.leave(session, activity_id=activity_id, member_id=caller.member_id, removed=False)


@router.get(
    "/{activity_id:uuid}/participants",
    response_model=Page[ParticipantItem],
    responses=problems(401, 403, 404, 422),
)
async def list_participants(
    activity_id: uuid.UUID,
    caller: Writer,
    session: SessionDep,
    response: Response,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[ParticipantItem]:
    """Everyone on an activity you host, in arrival order. Others see only the counts."""
    await service.hosted_activity(session, activity_id=activity_id, caller=caller)
    items, next_cursor = await service.participant_page(
        session, activity_id=activity_id, caller=caller, limit=limit, cursor=cursor
    )
    response.headers.update(PRIVATE)
    return Page[ParticipantItem](items=items, next_cursor=next_cursor)


@router.delete(
    "/{activity_id:uuid}/participants/{member_id:uuid}", status_code=204, responses=problems(401, 403, 404)
)
async def remove_participant(
    activity_id: uuid.UUID, member_id: uuid.UUID, caller: Writer, session: SessionDep
) -> None:
    """Take someone off an activity you host; they are told, and their place is filled."""
    await service.hosted_activity(session, activity_id=activity_id, caller=caller)
    await service.leave(session, activity_id=activity_id, member_id=member_id, removed=True)


@router.get(
    "/{activity_id:uuid}/calendar.ics",
    response_class=Response,
    responses={
        200: {"content": {calendar.MEDIA_TYPE: {"schema": {"type": "string"}}}},
        **problems(401, 403, 404),
    },
)
async def activity_calendar(activity_id: uuid.UUID, caller: Signed, session: SessionDep) -> Response:
    """The activity as iCalendar, with its time zone and recurrence: for the host and confirmed
    participants (it carries the address)."""
    activity = await service.calendar_activity(session, activity_id=activity_id, caller=caller)
    body = calendar.to_ical(activity, now=utcnow())
    return Response(body, media_type=calendar.MEDIA_TYPE, headers=PRIVATE)
