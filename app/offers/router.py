"""HTTP routes for offers: only the volunteer who made an offer ever sees it whole."""

import uuid

from fastapi import APIRouter, Response

from app.core.deps import SessionDep
from app.core.errors import problems
from app.core.etag import IfMatch, etag, parse_if_match
from app.core.pagination import Cursor, Limit, Page
from app.members.deps import CurrentMember
from app.offers import service
from app.offers.models import OfferCreate, OfferOwner, OfferStatus, OfferUpdate

router = APIRouter(prefix="/offers", tags=["offers"])


@router.post("", status_code=201, response_model=OfferOwner, responses=problems(401, 422))
async def create_offer(
    data: OfferCreate, member: CurrentMember, session: SessionDep, response: Response
) -> OfferOwner:
    """Offer help. Your location is used for matching and is never shown to anyone else."""
    offer = await service.create_offer(session, volunteer=member, data=data)
    response.headers["ETag"] = etag(offer.version)
    response.headers["Location"] = f"/v1/offers/{offer.id}"
    return service.render(offer)


@router.get("", response_model=Page[OfferOwner], responses=problems(401, 422))
async def list_offers(
    member: CurrentMember,
    session: SessionDep,
    status: OfferStatus | None = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Page[OfferOwner]:
    """Your offers, newest first."""
    offers, next_cursor = await service.list_offers(
        session, viewer=member, status=status, limit=limit, cursor=cursor
    )
    return Page[OfferOwner](items=[service.render(o) for o in offers], next_cursor=next_cursor)


@router.get("/{offer_id}", response_model=OfferOwner, responses=problems(401, 404, 422))
async def get_offer(
    offer_id: uuid.UUID, member: CurrentMember, session: SessionDep, response: Response
) -> OfferOwner:
    offer = await service.get_own_offer(session, offer_id=offer_id, viewer=member)
    response.headers["ETag"] = etag(offer.version)
    return service.render(offer)


@router.patch(
    "/{offer_id}",
    response_model=OfferOwner,
    responses=problems(401, 404, 409, 412, 422),
)
async def update_offer(
    offer_id: uuid.UUID,
    data: OfferUpdate,
    member: CurrentMember,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> OfferOwner:
    """Change or pause (`{"status": "paused"}`) your offer."""
    offer = await service.get_own_offer(session, offer_id=offer_id, viewer=member)
    offer = await service.update_offer(session, offer=offer, data=data, if_match=parse_if_match(if_match))
    response.headers["ETag"] = etag(offer.version)
    return service.render(offer)
