"""HTTP routes for matches: create, list, read and the steps of their lifecycle."""

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Response

from app.auth.callers import Caller
from app.auth.deps import MatchReader, TrustDep, scoped
from app.core.deps import SessionDep
from app.core.errors import problems
from app.core.etag import IfMatch, etag, parse_if_match
from app.core.openapi import link, links
from app.core.pagination import Cursor, Limit, Page
from app.idempotency.replays import replayed_by
from app.matches import messages, replays, service, views
from app.matches.models import MatchCreate, MatchStatus, MatchView, MessageCreate, MessageView, MessageWritten
from app.needs.models import Need
from app.organizations.models import Scope
from app.safety import service as safety
from app.safety.deps import CrisisCatalogue

router = APIRouter(tags=["matching"])
MatchWriter = Annotated[Caller, Depends(scoped(Scope.matches_write))]

NEW_MATCH = {"match_id": "$response.body#/id"}
# A step on the match just read names the version it saw, so it applies only to that one.
AS_READ = {**NEW_MATCH, "header.If-Match": "$response.header.ETag"}
MATCH_LINKS = {
    "GetMatch": link("get_match", NEW_MATCH),
    "AcceptMatch": link("accept_match", AS_READ),
    "DeclineMatch": link("decline_match", AS_READ),
    "CompleteMatch": link("complete_match", AS_READ),
    "CancelMatch": link("cancel_match", AS_READ),
}


@router.post(
    "/matches",
    status_code=201,
    response_model=MatchView,
    responses={**problems(401, 403, 404, 409, 422), **links(201, **MATCH_LINKS)},
)
@replayed_by(replays.created)
async def create_match(
    data: MatchCreate, caller: MatchWriter, trust: TrustDep, session: SessionDep, response: Response
) -> MatchView:
    """The offer's volunteer claims a need: `proposed` (`proposed_by: volunteer`) until the need's
    side accepts it, or `accepted` at once, if a slot and capacity are free, when the need's
    `approval` is `automatic`. The need's owner or its organisation proposes (the volunteer then
    accepts or declines). Contacts and the exact location show only once accepted.
    A volunteer holds at most their trust tier's number of open claims (409; docs/safety.md)."""
    match = await service.create_match(session, caller=caller, data=data, limits=trust.of(caller))
    side = service.VOLUNTEER_SIDE if match.volunteer_id == caller.member_id else service.NEED_SIDE
    response.headers["ETag"] = etag(match.version)
    response.headers["Location"] = f"/v1/matches/{match.id}"
    return await views.render(session, match, side, caller)


@router.get(
    "/matches",
    response_model=Page[MatchView],
    responses={
        **problems(401, 403, 422),
        **links(200, GetFirstMatch=link("get_match", {"match_id": "$response.body#/items/0/id"})),
    },
)
async def list_matches(
    caller: MatchReader,
    session: SessionDep,
    need_id: uuid.UUID | None = None,
    offer_id: uuid.UUID | None = None,
    status: MatchStatus | None = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Page[MatchView]:
    """Matches you are part of: as volunteer, as requester, or for your organisation."""
    rows, next_cursor = await service.list_matches(
        session, caller=caller, need_id=need_id, offer_id=offer_id, status=status, limit=limit, cursor=cursor
    )
    items = await views.render_page(session, rows, caller)
    return Page[MatchView](items=items, next_cursor=next_cursor)


@router.get("/matches/{match_id:uuid}", response_model=MatchView, responses=problems(401, 403, 404, 422))
async def get_match(
    match_id: uuid.UUID, caller: MatchReader, session: SessionDep, response: Response
) -> MatchView:
    """Both sides may read a match; its ETag changes with every step, for `If-Match` on the next."""
    match, _, side = await service.get_match(session, match_id=match_id, caller=caller)
    response.headers["ETag"] = etag(match.version)
    return await views.render(session, match, side, caller)


async def _step(
    match_id: uuid.UUID,
    caller: Caller,
    session: SessionDep,
    response: Response,
    if_match: str | None,
    action: Literal["accept", "decline", "complete", "cancel"],
) -> MatchView:
    match, _, side = await service.get_match(session, match_id=match_id, caller=caller)
    match = await service.step(
        session,
        match=match,
        side=side,
        action=action,
        actor=caller.member_id,
        if_match=parse_if_match(if_match),
    )
    response.headers["ETag"] = etag(match.version)
    return await views.render(session, match, side, caller)


_STEP_ERRORS = problems(401, 403, 404, 409, 412, 422)


@router.post("/matches/{match_id:uuid}/accept", response_model=MatchView, responses=_STEP_ERRORS)
@replayed_by(replays.stepped(MatchStatus.accepted))
async def accept_match(
    match_id: uuid.UUID,
    caller: MatchWriter,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> MatchView:
    """The side that did not propose accepts (the volunteer a proposal, the need's side a claim);
    both sides then see each other's contact. The proposing side gets 403. With `If-Match`, only
    if the match is still as last read."""
    return await _step(match_id, caller, session, response, if_match, "accept")


@router.post("/matches/{match_id:uuid}/decline", response_model=MatchView, responses=_STEP_ERRORS)
@replayed_by(replays.stepped(MatchStatus.declined))
async def decline_match(
    match_id: uuid.UUID,
    caller: MatchWriter,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> MatchView:
    return await _step(match_id, caller, session, response, if_match, "decline")


@router.post("/matches/{match_id:uuid}/complete", response_model=MatchView, responses=_STEP_ERRORS)
@replayed_by(replays.stepped(MatchStatus.completed))
async def complete_match(
    match_id: uuid.UUID,
    caller: MatchWriter,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> MatchView:
    return await _step(match_id, caller, session, response, if_match, "complete")


@router.post("/matches/{match_id:uuid}/cancel", response_model=MatchView, responses=_STEP_ERRORS)
@replayed_by(replays.stepped(MatchStatus.cancelled))
async def cancel_match(
    match_id: uuid.UUID,
    caller: MatchWriter,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> MatchView:
    """Either side ends a proposed or accepted match; an accepted one gives its slot back."""
    return await _step(match_id, caller, session, response, if_match, "cancel")


@router.get(
    "/matches/{match_id:uuid}/messages",
    response_model=Page[MessageView],
    responses=problems(401, 403, 404, 422),
)
async def list_messages(
    match_id: uuid.UUID, caller: MatchReader, session: SessionDep, limit: Limit = 20, cursor: Cursor = None
) -> Page[MessageView]:
    """The match's messages, oldest first (`next_cursor` pages on to newer ones), for its two
    sides only: the volunteer, and the requester (for an organisation's need filed for someone,
    its coordinators, whose reads are audited). Anyone else gets 404. A removed message keeps
    its place with `body: null`."""
    items, next_cursor = await messages.page(
        session, match_id=match_id, caller=caller, limit=limit, cursor=cursor
    )
    return Page[MessageView](items=items, next_cursor=next_cursor)


@router.get(
    "/matches/{match_id:uuid}/messages/{message_id:uuid}",
    response_model=MessageView,
    responses=problems(401, 403, 404, 422),
)
async def get_message(
    match_id: uuid.UUID, message_id: uuid.UUID, caller: MatchReader, session: SessionDep
) -> MessageView:
    """One message of the match, for its two sides only (as the list); 404 for anyone else."""
    return await messages.one(session, match_id=match_id, message_id=message_id, caller=caller)


@router.post(
    "/matches/{match_id:uuid}/messages",
    status_code=201,
    response_model=MessageWritten,
    responses=problems(401, 403, 404, 409, 422),
)
@replayed_by(replays.message_posted)
async def post_message(
    match_id: uuid.UUID,
    data: MessageCreate,
    caller: MatchWriter,
    session: SessionDep,
    response: Response,
    catalogue: CrisisCatalogue,
) -> MessageWritten:
    """Write to the other side of a proposed or accepted match (409 once it has ended: the
    messages stay readable). The other side is notified (`message.created`, ids only). When the
    text reads as a crisis, `resources` lists helplines for the author alone."""
    message, match = await messages.post(session, match_id=match_id, caller=caller, body=data.body)
    response.headers["Location"] = f"/v1/matches/{match.id}/messages/{message.id}"
    need = await session.get(Need, match.need_id)
    languages = list(caller.member.languages) if caller.member is not None else []
    resources = await safety.resources_for(
        catalogue,
        texts=[message.body],
        lat=need.approx_lat if need is not None else None,
        lon=need.approx_lon if need is not None else None,
        languages=languages,
    )
    return MessageWritten(**messages.view(message, match, caller).model_dump(), resources=resources)
