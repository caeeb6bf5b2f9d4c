"""HTTP routes for matches, candidates, opportunities and batch matching runs."""

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from app.auth.callers import Caller
from app.auth.deps import scoped
from app.core.deps import SessionDep
from app.core.errors import Forbidden, problems
from app.core.etag import IfMatch, etag, parse_if_match
from app.core.openapi import link, links
from app.core.pagination import Cursor, Limit, Page
from app.geo import round_half_km
from app.matches import candidates as finder
from app.matches import runs, service, views
from app.matches.models import (
    Candidate,
    Candidates,
    MatchCreate,
    MatchStatus,
    MatchView,
    RunRequest,
    RunResult,
    Volunteer,
)
from app.needs import service as needs
from app.needs.models import NeedPublic
from app.needs.views import OWNER, PUBLIC, render
from app.offers import service as offers
from app.organizations.models import Scope

router = APIRouter(tags=["matching"])
MatchReader = Annotated[Caller, Depends(scoped(Scope.matches_read))]
MatchWriter = Annotated[Caller, Depends(scoped(Scope.matches_write))]
OfferReader = Annotated[Caller, Depends(scoped(Scope.offers_read))]
Runner = Annotated[Caller, Depends(scoped(Scope.matching_run))]
Small = Annotated[int, Query(ge=1, le=100, description="How many, 1..100.")]

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


class Opportunity(NeedPublic):
    score: float
    breakdown: dict[str, float]


@router.post(
    "/matches",
    status_code=201,
    response_model=MatchView,
    responses={**problems(401, 403, 404, 409, 422), **links(201, **MATCH_LINKS)},
)
async def create_match(
    data: MatchCreate, caller: MatchWriter, session: SessionDep, response: Response
) -> MatchView:
    """The offer's volunteer claims a need (accepted at once, if a slot and capacity are free);
    the need's owner or its organisation proposes (the volunteer then accepts or declines)."""
    match = await service.create_match(session, caller=caller, data=data)
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
        session, match=match, side=side, action=action, if_match=parse_if_match(if_match)
    )
    response.headers["ETag"] = etag(match.version)
    return await views.render(session, match, side, caller)


_STEP_ERRORS = problems(401, 403, 404, 409, 412, 422)


@router.post("/matches/{match_id:uuid}/accept", response_model=MatchView, responses=_STEP_ERRORS)
async def accept_match(
    match_id: uuid.UUID,
    caller: MatchWriter,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> MatchView:
    """The volunteer accepts a proposal; both sides then see each other's contact. With
    `If-Match`, only if the match is still as last read."""
    return await _step(match_id, caller, session, response, if_match, "accept")


@router.post("/matches/{match_id:uuid}/decline", response_model=MatchView, responses=_STEP_ERRORS)
async def decline_match(
    match_id: uuid.UUID,
    caller: MatchWriter,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> MatchView:
    return await _step(match_id, caller, session, response, if_match, "decline")


@router.post("/matches/{match_id:uuid}/complete", response_model=MatchView, responses=_STEP_ERRORS)
async def complete_match(
    match_id: uuid.UUID,
    caller: MatchWriter,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> MatchView:
    return await _step(match_id, caller, session, response, if_match, "complete")


@router.post("/matches/{match_id:uuid}/cancel", response_model=MatchView, responses=_STEP_ERRORS)
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
    "/needs/{need_id:uuid}/candidates",
    response_model=Candidates,
    responses={
        **problems(401, 403, 404, 422),
        # The need's owner proposes the best candidate.
        **links(
            200,
            ProposeBest=link(
                "create_match",
                body={"need_id": "$request.path.need_id", "offer_id": "$response.body#/items/0/offer_id"},
            ),
        ),
    },
)
async def need_candidates(
    need_id: uuid.UUID, caller: MatchReader, session: SessionDep, limit: Small = 20
) -> Candidates:
    """Volunteers who could take this need, best first (owner view holders only)."""
    need, role = await needs.get_visible_need(session, need_id=need_id, caller=caller)
    if role != OWNER:
        raise Forbidden("Only the need's owner can see its candidates.")
    ranked = await finder.candidates(session, need=need, limit=limit)
    return Candidates(
        items=[
            Candidate(
                offer_id=r.row.id,
                volunteer=Volunteer(id=r.row.volunteer_id, display_name=r.row.display_name),
                score=round(r.scored.score, 4),
                breakdown=r.scored.breakdown,
                distance_km=None if r.scored.distance_km is None else round_half_km(r.scored.distance_km),
            )
            for r in ranked
        ]
    )


@router.get(
    "/offers/{offer_id:uuid}/opportunities",
    response_model=Page[Opportunity],
    responses={
        **problems(401, 403, 404, 422),
        # The volunteer claims the best opportunity with this offer.
        **links(
            200,
            ClaimBest=link(
                "create_match",
                body={"need_id": "$response.body#/items/0/id", "offer_id": "$request.path.offer_id"},
            ),
        ),
    },
)
async def offer_opportunities(
    offer_id: uuid.UUID, caller: OfferReader, session: SessionDep, limit: Small = 20
) -> Page[Opportunity]:
    """Open needs this offer could take, best first, in their public view."""
    offer, _ = await offers.get_visible_offer(session, offer_id=offer_id, caller=caller)
    ranked = await finder.opportunities(session, offer=offer, limit=limit)
    items = [
        Opportunity.model_validate(
            {
                **render(r.row, PUBLIC, r.scored.distance_km).model_dump(),
                "score": round(r.scored.score, 4),
                "breakdown": r.scored.breakdown,
            }
        )
        for r in ranked
    ]
    return Page[Opportunity](items=items, next_cursor=None)


@router.post("/matching/runs", response_model=RunResult, responses=problems(401, 403, 404, 409, 422))
async def run_matching(body: RunRequest, caller: Runner, session: SessionDep) -> RunResult:
    """An optimal assignment of the organisation's open needs to its volunteers' active offers,
    maximising the sum of score x urgency weight x (1 + waiting). `dry_run` (the default)
    changes nothing; otherwise each assignment becomes a `proposed` match."""
    return await runs.run(session, caller=caller, body=body)
