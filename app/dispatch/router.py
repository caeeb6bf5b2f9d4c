"""HTTP routes for finding pairs: a need's candidates, an offer's opportunities, batch matching runs."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from app.auth.callers import Caller
from app.auth.deps import MatchReader, OfferReader, TrustDep, limiter, scoped
from app.core.deps import SessionDep
from app.core.errors import Forbidden, problems
from app.core.openapi import link, links
from app.core.pagination import Page
from app.dispatch import candidates as finder
from app.dispatch import runs
from app.dispatch.models import Candidate, Candidates, Opportunity, RunRequest, RunResult, Volunteer
from app.geo import round_half_km
from app.idempotency.replays import replayed_by, verbatim
from app.matches import standing
from app.needs import service as needs
from app.needs.models import Need
from app.needs.views import OWNER, PUBLIC, render
from app.offers import service as offers
from app.organizations import service as organizations
from app.organizations.models import Scope

router = APIRouter(tags=["matching"])
Runner = Annotated[Caller, Depends(scoped(Scope.matching_run))]
Small = Annotated[int, Query(ge=1, le=100, description="How many, 1..100.")]


@router.get(
    "/needs/{need_id:uuid}/candidates",
    response_model=Candidates,
    responses={
        **problems(401, 403, 404, 422, 429),
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
    need_id: uuid.UUID,
    caller: MatchReader,
    trust: TrustDep,
    session: SessionDep,
    request: Request,
    limit: Small = 20,
) -> Candidates:
    """Volunteers who could take this need, best first (owner view holders only).

    `volunteer` is null unless the volunteer has had an accepted or completed match with you (or
    your organisation), or, when you act for the need's organisation, belongs to it: a stranger who
    posts needs, or founds an organisation to post them, learns no names. A member
    lists candidates of their own needs at most their trust tier's times a day (429 with
    Retry-After; docs/safety.md)."""
    need, role = await needs.get_visible_need(session, need_id=need_id, caller=caller)
    if role != OWNER:
        raise Forbidden("Only the need's owner can see its candidates.")
    limits = trust.of(caller)
    if limits is not None and not caller.acts_for(need.organization_id):
        identity = f"candidates:{caller.member_id}"
        await limiter(request).daily(limits.candidates_per_day, identity, "candidates")
    ranked = await finder.candidates(session, need=need, limit=limit, viewer_id=caller.member_id)
    named = await _named(session, need, caller, {r.row.volunteer_id for r in ranked})
    return Candidates(
        items=[
            Candidate(
                offer_id=r.row.id,
                volunteer=Volunteer(id=r.row.volunteer_id, display_name=r.row.display_name)
                if r.row.volunteer_id in named
                else None,
                score=round(r.scored.score, 4),
                breakdown=r.scored.breakdown,
                distance_km=None if r.scored.distance_km is None else round_half_km(r.scored.distance_km),
            )
            for r in ranked
        ]
    )


async def _named(
    session: SessionDep, need: Need, caller: Caller, volunteer_ids: set[uuid.UUID]
) -> set[uuid.UUID]:
    """The volunteers whose names the caller may see: for the need's organisation, its own members
    and those it has had accepted; for a member, those they have had accepted. Anyone may found an
    organisation, so acting for one is no licence to learn every volunteer's name nearby."""
    if caller.acts_for(need.organization_id) and need.organization_id is not None:
        org = need.organization_id
        own = await organizations.members_among(session, organization_id=org, member_ids=volunteer_ids)
        others = volunteer_ids - own
        known = await standing.known_volunteers(session, organization_id=org, volunteer_ids=others)
        return own | known
    if need.requester_id is None:
        return set()
    return await standing.known_volunteers(
        session, requester_id=need.requester_id, volunteer_ids=volunteer_ids
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
async def run_matching(body: RunRequest, caller: Runner, session: SessionDep, request: Request) -> RunResult:
    """An optimal assignment of the organisation's open needs to its volunteers' active offers,
    maximising the sum of score x urgency weight x (1 + waiting). `dry_run` (the default)
    changes nothing; otherwise each assignment becomes a `proposed` match."""
    return await runs.run(session, caller=caller, body=body, settings=request.app.state.settings)
