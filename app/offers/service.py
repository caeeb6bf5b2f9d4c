"""Offer rules: a volunteer's offers are theirs alone to read and change."""

import uuid
from typing import Any

from sqlalchemy import and_, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import Conflict, Invalid, NotFound, PreconditionFailed
from app.core.pagination import decode_time_cursor, encode_time_cursor
from app.core.timeutil import utcnow
from app.geo import located
from app.members.models import Member
from app.offers.models import Offer, OfferCreate, OfferOwner, OfferStatus, OfferUpdate


def _flatten(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in data.items() if k != "location"}
    if data.get("location") is not None:
        out.update(located(data["location"]["lat"], data["location"]["lon"]))
    return out


def render(offer: Offer) -> OfferOwner:
    return OfferOwner.model_validate({**offer.model_dump(), "location": {"lat": offer.lat, "lon": offer.lon}})


async def create_offer(session: AsyncSession, *, volunteer: Member, data: OfferCreate) -> Offer:
    if data.organization_id is not None:
        # Organisations arrive with partner access; until then no caller belongs to one.
        raise Invalid("Unknown organization, or you are not its member.", loc=["body", "organization_id"])
    offer = Offer(volunteer_id=volunteer.id, **_flatten(data.model_dump(mode="json")))
    session.add(offer)
    await session.commit()
    return offer


async def get_own_offer(session: AsyncSession, *, offer_id: uuid.UUID, viewer: Member) -> Offer:
    """The offer, if the viewer is its volunteer; to anyone else it does not exist."""
    offer = await session.get(Offer, offer_id)
    if offer is None or offer.volunteer_id != viewer.id:
        raise NotFound("No such offer.")
    return offer


async def list_offers(
    session: AsyncSession, *, viewer: Member, status: OfferStatus | None, limit: int, cursor: str | None
) -> tuple[list[Offer], str | None]:
    conditions = [col(Offer.volunteer_id) == viewer.id]
    if status is not None:
        conditions.append(col(Offer.status) == status)
    if cursor:
        at, last = decode_time_cursor(cursor)
        conditions.append(
            or_(col(Offer.created_at) < at, and_(col(Offer.created_at) == at, col(Offer.id) < last))
        )
    stmt = (
        select(Offer)
        .where(*conditions)
        .order_by(col(Offer.created_at).desc(), col(Offer.id).desc())
        .limit(limit + 1)
    )
    rows = list((await session.exec(stmt)).all())
    next_cursor = None
    if len(rows) > limit:
        last_offer = rows[limit - 1]
        next_cursor = encode_time_cursor(last_offer.created_at, last_offer.id)
    return rows[:limit], next_cursor


async def update_offer(
    session: AsyncSession, *, offer: Offer, data: OfferUpdate, if_match: int | None
) -> Offer:
    changes = data.model_dump(mode="json", exclude_unset=True)
    nullable = {"note"}
    for field, value in changes.items():
        if value is None and field not in nullable:
            raise Invalid(f"{field} cannot be null.", loc=["body", field])
    if "capacity" in changes and changes["capacity"] < offer.active_matches:
        raise Conflict("capacity cannot drop below the offer's active matches.")
    seen = offer.version
    if if_match is not None and if_match != seen:
        raise PreconditionFailed("The offer has changed since you read it; fetch it again.")
    values = {**_flatten(changes), "version": seen + 1, "updated_at": utcnow()}
    result = await session.exec(
        update(Offer).where(col(Offer.id) == offer.id, col(Offer.version) == seen).values(**values)
    )
    if result.rowcount != 1:
        await session.rollback()
        if if_match is not None:
            raise PreconditionFailed("The offer has changed since you read it; fetch it again.")
        raise Conflict("The offer was changed at the same moment; try again.")
    await session.commit()
    await session.refresh(offer)
    return offer
