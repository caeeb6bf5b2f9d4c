"""HTTP routes for finding pairs: a need's candidates, an offer's opportunities, batch matching runs."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.auth.callers import Caller
from app.auth.deps import MatchReader, OfferReader, scoped
from app.core.deps import SessionDep
from app.core.errors import Forbidden, problems
from app.core.openapi import link, links
from app.core.pagination import Page
from app.dispatch import candidates as finder
from app.dispatch import runs
from app.dispatch.models import Candidate, Candidates, Opportunity, RunRequest, RunResult, Volunteer
from app.geo import round_half_km
from app.idempotency.replays import replayed_by, verbatim
from app.needs import service as needs
from app.needs.views import OWNER, PUBLIC, render
from app.offers import service as offers
from app.organizations.models import Scope

router = APIRouter(tags=["matching"])
Runner = Annotated[Caller, Depends(scoped(Scope.matching_run))]
Small = Annotated[int, Query(ge=1, le=100, description="How many, 1..100.")]


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
# Ids, scores and rounded distances, never a contact or a location; and a replay must not run again.
@replayed_by(verbatim)
async def run_matching(body: RunRequest, caller: Runner, session: SessionDep) -> RunResult:
    """An optimal assignment of the organisation's open needs to its volunteers' active offers,
    maximising the sum of score x urgency weight x (1 + waiting). `dry_run` (the default)
    changes nothing; otherwise each assignment becomes a `proposed` match."""
    return await runs.run(session, caller=caller, body=body)
