"""HTTP routes for offers: only the volunteer who made an offer ever sees where it is."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from app.auth.callers import Caller
from app.auth.deps import CurrentMember, MemberCaller, TrustDep, scoped
from app.core.deps import SessionDep
from app.core.errors import problems
from app.core.etag import IfMatch, etag, parse_if_match
from app.core.openapi import link, links
from app.core.pagination import Cursor, Limit, Page
from app.idempotency.replays import replayed_by, verbatim
from app.offers import service
from app.offers.models import OfferCreate, OfferOwner, OfferStatus, OfferUpdate, OfferView
from app.organizations.models import Scope

router = APIRouter(prefix="/offers", tags=["offers"])

NEW_OFFER = {"offer_id": "$response.body#/id"}
OFFER_LINKS = {
    "GetOffer": link("get_offer", NEW_OFFER),
    "UpdateOffer": link("update_offer", {**NEW_OFFER, "header.If-Match": "$response.header.ETag"}),
    "OfferOpportunities": link("offer_opportunities", NEW_OFFER),
    "OfferMatches": link("list_matches", {"query.offer_id": "$response.body#/id"}),
}

Reader = Annotated[Caller, Depends(scoped(Scope.offers_read))]


@router.post(
    "",
    status_code=201,
    response_model=OfferOwner,
    responses={**problems(401, 403, 422, 429), **links(201, **OFFER_LINKS)},
)
# The volunteer's own offer, which only they see and never lose the right to.
@replayed_by(verbatim)
async def create_offer(
    data: OfferCreate, member: CurrentMember, trust: TrustDep, session: SessionDep, response: Response
) -> OfferOwner:
    """Offer help. Your location is used for matching and is never shown to anyone else.
    Your trust tier caps `max_distance_km` (422 names the cap) and how many offers you make
    a day (429 with Retry-After); docs/safety.md."""
    offer = await service.create_offer(session, volunteer=member, data=data, limits=trust.limits)
    response.headers["ETag"] = etag(offer.version)
    response.headers["Location"] = f"/v1/offers/{offer.id}"
    return service.render_owner(offer)


@router.get(
    "",
    response_model=Page[OfferView],
    responses={
        **problems(401, 403, 422),
        **links(
            200,
            GetFirstOffer=link("get_offer", {"offer_id": "$response.body#/items/0/id"}),
            FirstOfferOpportunities=link("offer_opportunities", {"offer_id": "$response.body#/items/0/id"}),
        ),
    },
)
async def list_offers(
    caller: Reader,
    session: SessionDep,
    status: OfferStatus | None = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Page[OfferView]:
    """Your offers, newest first; coordinators and keys also see their organisation's (without locations)."""
    rows, next_cursor = await service.list_offers(
        session, caller=caller, status=status, limit=limit, cursor=cursor
    )
    return Page[OfferView](items=[service.render(o, role) for o, role in rows], next_cursor=next_cursor)


@router.get("/{offer_id:uuid}", response_model=OfferView, responses=problems(401, 403, 404, 422))
async def get_offer(
    offer_id: uuid.UUID, caller: Reader, session: SessionDep, response: Response
) -> OfferView:
    offer, role = await service.get_visible_offer(session, offer_id=offer_id, caller=caller)
    if role == service.OWNER:
        response.headers["ETag"] = etag(offer.version)
    return service.render(offer, role)


@router.patch("/{offer_id:uuid}", response_model=OfferOwner, responses=problems(401, 403, 404, 409, 412, 422))
async def update_offer(
    offer_id: uuid.UUID,
    data: OfferUpdate,
    caller: MemberCaller,
    trust: TrustDep,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> OfferOwner:
    """Change or pause (`{"status": "paused"}`) your offer. A new `max_distance_km` is capped by
    your trust tier (422 names the cap)."""
    offer = await service.get_own_offer(session, offer_id=offer_id, caller=caller)
    offer = await service.update_offer(
        session, offer=offer, data=data, if_match=parse_if_match(if_match), limits=trust.limits
    )
    response.headers["ETag"] = etag(offer.version)
    return service.render_owner(offer)
