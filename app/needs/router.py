"""HTTP routes for needs: thin, the rules live in the services."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from app.auth.callers import Caller
from app.auth.deps import ANONYMOUS_WELCOME, TrustDep, scoped
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import problems
from app.core.etag import IfMatch, etag, parse_if_match
from app.core.openapi import link, links
from app.core.pagination import Cursor, Limit, Page
from app.core.schema import RFC3339, instant_in
from app.core.series import Limits
from app.core.timeutil import utcnow
from app.geo import MAX_RADIUS_KM
from app.idempotency.replays import replayed_by, verbatim
from app.needs import intake, occurrences, replays, search, service
from app.needs.models import (
    NeedCreate,
    NeedOwner,
    NeedStatus,
    NeedUpdate,
    NeedView,
    NeedWritten,
    OccurrenceList,
    OccurrenceView,
)
from app.needs.views import OWNER, render, render_owner, render_written
from app.organizations.models import Scope
from app.safety.deps import CrisisCatalogue
from app.spatial import NEAR, parse_near
from app.vocab import Category, Mode, Urgency

router = APIRouter(prefix="/needs", tags=["needs"])

NEW_NEED = {"need_id": "$response.body#/id"}
SAME_NEED = {"need_id": "$request.path.need_id"}
# What a client does next with a need it holds (owner view): read, change, cancel, find help.
NEED_LINKS = {
    "GetNeed": link("get_need", NEW_NEED),
    "UpdateNeed": link("update_need", {**NEW_NEED, "header.If-Match": "$response.header.ETag"}),
    "CancelNeed": link("cancel_need", NEW_NEED),
    "NeedCandidates": link("need_candidates", NEW_NEED),
    "NeedMatches": link("list_matches", {"query.need_id": "$response.body#/id"}),
}

Reader = Annotated[Caller, Depends(scoped(Scope.needs_read, anonymous=True))]
# A write answers with the owner view, so a key needs to be allowed to read it too.
Writer = Annotated[Caller, Depends(scoped(Scope.needs_write, Scope.needs_read))]


@router.post(
    "",
    status_code=201,
    response_model=NeedWritten,
    responses={**problems(401, 403, 409, 422, 429), **links(201, **NEED_LINKS)},
)
@replayed_by(replays.created)
async def create_need(
    data: NeedCreate,
    caller: Writer,
    trust: TrustDep,
    session: SessionDep,
    response: Response,
    catalogue: CrisisCatalogue,
    settings: SettingsDep,
) -> NeedWritten:
    """Ask for help, or (coordinators and partner keys) file a need for someone.

    A need a coordinator or key files under its organisation belongs to the organisation:
    `requester_id` is null, `filed_by` records who filed it, and owner rights follow current
    roles (a coordinator who files one keeps them only while a coordinator).

    The exact location, address and contact are shown only to the owner and to volunteers
    they accept; everyone else sees the centre of a ~1 km cell. A partner's `external_id`
    is unique within its organisation: a repeat is a 409 carrying `existing_id`.
    When the text reads as a crisis, `resources` lists helplines for the author alone.
    A member's own needs are limited per day by their trust tier (429 with Retry-After;
    docs/safety.md); an organisation's intake is not."""
    need = await service.create_need(
        session, caller=caller, data=data, limits=trust.of(caller), recurring=Limits.of(settings)
    )
    response.headers["ETag"] = etag(need.version)
    response.headers["Location"] = f"/v1/needs/{need.id}"
    return render_written(need, await service.crisis_resources(catalogue, need=need, caller=caller))


@router.post(
    "/batch",
    response_model=intake.BatchResponse,
    responses={
        **problems(401, 403, 422),
        **links(200, GetFirstNeed=link("get_need", {"need_id": "$response.body#/results/0/id"})),
    },
)
# Ids, statuses, validation problems and public helplines: nothing a caller can lose the right to.
@replayed_by(verbatim)
async def create_needs_batch(
    body: intake.BatchRequest,
    caller: Writer,
    trust: TrustDep,
    session: SessionDep,
    catalogue: CrisisCatalogue,
    settings: SettingsDep,
) -> intake.BatchResponse:
    """Partners' intake: up to 500 needs; each item gets its own result, and one bad item
    spoils no other. A created item whose text reads as a crisis carries `resources` for the
    partner to pass on to the person it filed for. A member's own needs (not filed for an
    organisation they coordinate) count against their daily limit: items beyond it are 429."""
    results = await intake.create_batch(
        session, caller=caller, items=body.items, limits=trust.of(caller), recurring=Limits.of(settings)
    )
    await intake.attach_crisis_resources(session, catalogue, caller=caller, results=results)
    return intake.BatchResponse(results=results)


@router.get(
    "",
    response_model=Page[NeedView],
    responses={
        **problems(401, 403, 422),
        **links(200, GetFirstNeed=link("get_need", {"need_id": "$response.body#/items/0/id"})),
    },
    openapi_extra=ANONYMOUS_WELCOME,
)
async def list_needs(
    session: SessionDep,
    caller: Reader,
    category: Category | None = None,
    status: NeedStatus | None = None,
    urgency: Urgency | None = None,
    mode: Mode | None = None,
    near: Annotated[
        str | None,
        Query(
            # Checked in `parse_near`, to say what shape is wanted rather than quote the pattern.
            json_schema_extra={"pattern": NEAR},
            max_length=100,
            description="`<lat>,<lon>` in decimal degrees: nearest first, within radius_km.",
            examples=["51.5074,-0.1278"],
        ),
    ] = None,
    radius_km: Annotated[float | None, Query(gt=0, le=MAX_RADIUS_KM, description="Default 10.")] = None,
    organization_id: uuid.UUID | None = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Page[NeedView]:
    """Needs you may see: the public view of public needs, the owner view of your own and your
    organisation's. Distances are measured from the public stand-in point."""
    filters = search.NeedFilters(
        category=category,
        status=status,
        urgency=urgency,
        mode=mode,
        organization_id=organization_id,
        near=parse_near(near, radius_km),
    )
    rows, next_cursor = await search.list_needs(
        session, caller=caller, filters=filters, limit=limit, cursor=cursor
    )
    return Page[NeedView](items=[render(n, role, d) for n, role, d in rows], next_cursor=next_cursor)


@router.get(
    "/{need_id:uuid}",
    response_model=NeedView,
    responses={
        **problems(401, 403, 404, 422),
        **links(
            200,
            UpdateNeed=link("update_need", {**SAME_NEED, "header.If-Match": "$response.header.ETag"}),
            NeedCandidates=link("need_candidates", SAME_NEED),
        ),
    },
    openapi_extra=ANONYMOUS_WELCOME,
)
async def get_need(need_id: uuid.UUID, session: SessionDep, caller: Reader, response: Response) -> NeedView:
    need, role = await service.read_need(session, need_id=need_id, caller=caller)
    if role == OWNER:  # the version would tell strangers when private fields changed
        response.headers["ETag"] = etag(need.version)
    return render(need, role)


@router.patch(
    "/{need_id:uuid}",
    response_model=NeedWritten,
    responses={
        **problems(401, 403, 404, 409, 412, 422),
        **links(200, GetNeed=link("get_need", SAME_NEED), CancelNeed=link("cancel_need", SAME_NEED)),
    },
)
async def update_need(
    need_id: uuid.UUID,
    data: NeedUpdate,
    caller: Writer,
    session: SessionDep,
    response: Response,
    catalogue: CrisisCatalogue,
    settings: SettingsDep,
    if_match: IfMatch = None,
) -> NeedWritten:
    """Change a need you own. Send `If-Match` with the ETag you read to avoid overwriting a change.
    When a new title or description reads as a crisis, `resources` lists helplines for you alone."""
    need = await service.get_owned_need(session, need_id=need_id, caller=caller)
    need = await service.update_need(
        session,
        caller=caller,
        need=need,
        data=data,
        if_match=parse_if_match(if_match),
        recurring=Limits.of(settings),
    )
    response.headers["ETag"] = etag(need.version)
    text_changed = bool(data.model_fields_set & {"title", "description"})
    resources = await service.crisis_resources(catalogue, need=need, caller=caller) if text_changed else []
    return render_written(need, resources)


@router.post(
    "/{need_id:uuid}/cancel",
    response_model=NeedOwner,
    responses=problems(401, 403, 404, 409, 422),
)
@replayed_by(replays.cancelled)
async def cancel_need(
    need_id: uuid.UUID, caller: Writer, session: SessionDep, response: Response
) -> NeedOwner:
    need = await service.get_owned_need(session, need_id=need_id, caller=caller)
    need = await service.cancel_need(session, caller=caller, need=need)
    response.headers["ETag"] = etag(need.version)
    return render_owner(need)


@router.get(
    "/{need_id:uuid}/occurrences",
    response_model=OccurrenceList,
    responses=problems(401, 403, 404, 422),
    openapi_extra=ANONYMOUS_WELCOME,
)
async def list_need_occurrences(
    need_id: uuid.UUID,
    session: SessionDep,
    caller: Reader,
    settings: SettingsDep,
    start: Annotated[
        str | None, Query(alias="from", pattern=RFC3339, description="Ending after then (default now).")
    ] = None,
    end: Annotated[
        str | None,
        Query(alias="to", pattern=RFC3339, description="Starting before then (default from + 366 days)."),
    ] = None,
) -> OccurrenceList:
    """The need's occurrences overlapping [from, to), each `open`, `past` or `cancelled`: a
    one-off need with a window has one, a need without a window none. `to` may be at most 366 days
    after `from` and within the recurrence horizon from now (422 otherwise). Seen by whoever may
    see the need (404 otherwise)."""
    need, _ = await service.get_visible_need(session, need_id=need_id, caller=caller)
    now = utcnow()
    begin, until = occurrences.query_range(
        instant_in("query", "from", start), instant_in("query", "to", end), now, Limits.of(settings)
    )
    found = occurrences.listed(need, start=begin, end=until, now=now)
    return OccurrenceList(items=[OccurrenceView(start=o.start, end=o.end, status=o.status) for o in found])


@router.post(
    "/{need_id:uuid}/occurrences/{start}/cancel",
    response_model=OccurrenceView,
    responses=problems(401, 403, 404, 409, 422),
)
@replayed_by(replays.occurrence_cancelled)
async def cancel_need_occurrence(
    need_id: uuid.UUID,
    start: Annotated[str, Path(pattern=RFC3339, description="The occurrence's start, RFC 3339.")],
    caller: Writer,
    session: SessionDep,
) -> OccurrenceView:
    """Cancel one occurrence of a recurring need you own; the others stand. 404 when the series
    has no occurrence starting then; 409 when it has ended or is cancelled already, or is the last
    open one (cancel the need instead)."""
    moment = instant_in("path", "start", start)
    assert moment is not None
    need = await service.get_owned_need(session, need_id=need_id, caller=caller)
    found = await service.cancel_occurrence(session, need=need, start=moment)
    return OccurrenceView(start=found.start, end=found.end, status=found.status)
