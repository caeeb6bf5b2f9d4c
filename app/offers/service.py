"""Offer rules: the volunteer's alone to change; its organisation may see it, never where it is."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import trust
from app.auth.callers import Caller
from app.core.config import TrustLimits
from app.core.crud import newest_first, page_of, versioned_update
from app.core.errors import Forbidden, Invalid, NotFound
from app.core.timeutil import utcnow
from app.geo import located
from app.matching.masks import offer_columns
from app.members.models import Member
from app.members.suspension import member_suspended, suspended_among
from app.offers.models import Offer, OfferCreate, OfferOrganization, OfferOwner, OfferStatus, OfferUpdate
from app.organizations import service as organizations
from app.safety import blocks
from app.vocab import Capability, Category, Mode, mask

OWNER, ORGANIZATION = "owner", "organization"


_MASKED = {"categories": Category, "modes": Mode, "capabilities": Capability}
_MASK_SOURCES = ("languages", "availability", "timezone")  # what app.matching.masks reads, in order


def _flatten(data: dict[str, Any], current: Offer | None = None) -> dict[str, Any]:
    """Columns to write from a request's fields; `current` fills in what a partial update keeps."""
    out = {k: v for k, v in data.items() if k != "location"}
    if data.get("location") is not None:
        out.update(located(data["location"]["lat"], data["location"]["lon"]))
    for field, vocabulary in _MASKED.items():
        if data.get(field) is not None:
            out[f"{field}_mask"] = mask(data[field], vocabulary)
    if current is None or data.keys() & set(_MASK_SOURCES):
        out.update(offer_columns(*(data[f] if f in data else getattr(current, f) for f in _MASK_SOURCES)))
    return out


def render_owner(offer: Offer) -> OfferOwner:
    return OfferOwner.model_validate({**offer.model_dump(), "location": {"lat": offer.lat, "lon": offer.lon}})


def render(offer: Offer, role: str) -> OfferOwner | OfferOrganization:
    return render_owner(offer) if role == OWNER else OfferOrganization.model_validate(offer.model_dump())


def role_of(offer: Offer, caller: Caller) -> str | None:
    if caller.member_id is not None and offer.volunteer_id == caller.member_id:
        return OWNER
    if caller.acts_for(offer.organization_id):
        return ORGANIZATION
    return None


def check_reach(max_distance_km: float | None, limits: TrustLimits) -> None:
    """422 naming the cap when an offer would reach further than the member's tier allows."""
    if max_distance_km is not None and max_distance_km > limits.offer_reach_km:
        raise Invalid(
            f"max_distance_km may be at most {limits.offer_reach_km:g} km for your account "
            "(the cap grows with the account's age and an organisation's vetting).",
            loc=["body", "max_distance_km"],
        )


async def check_daily_offers(session: AsyncSession, *, volunteer_id: uuid.UUID, limits: TrustLimits) -> None:
    """429 with Retry-After once the member made the day's offers (counted in the table, under a
    lock on the member's row, so every worker and concurrent request agree)."""
    now = utcnow()
    await trust.lock_member(session, member_id=volunteer_id)
    stmt = select(func.count(), func.min(col(Offer.created_at))).where(
        col(Offer.volunteer_id) == volunteer_id, col(Offer.created_at) > now - trust.DAY
    )
    count, oldest = (await session.exec(stmt)).one()
    if count >= limits.offers_per_day:
        raise trust.over_daily_limit("offers", limits.offers_per_day, oldest, now)


async def create_offer(
    session: AsyncSession, *, volunteer: Member, data: OfferCreate, limits: TrustLimits | None
) -> Offer:
    """A new offer of the volunteer's; `limits` (their trust tier's) caps its reach (422) and
    how many they make a day (429)."""
    if limits is not None:
        check_reach(data.max_distance_km, limits)
        await check_daily_offers(session, volunteer_id=volunteer.id, limits=limits)
    if data.organization_id is not None and not await organizations.is_member(
        session, organization_id=data.organization_id, member_id=volunteer.id
    ):
        # One answer whether or not it exists: a coordinator adds volunteers first.
        raise Invalid(
            "No such organization, or you are not one of its members.", loc=["body", "organization_id"]
        )
    offer = Offer(volunteer_id=volunteer.id, **_flatten(data.model_dump(mode="json")))
    offer.organization_id = data.organization_id
    session.add(offer)
    await session.flush()
    return offer


async def get_visible_offer(
    session: AsyncSession, *, offer_id: uuid.UUID, caller: Caller
) -> tuple[Offer, str]:
    """The offer and the caller's view of it; to anyone without one it does not exist, nor to
    anyone blocked either way with its volunteer (app.safety.blocks). Every read passes here."""
    offer = await session.get(Offer, offer_id)
    if offer is not None and await blocks.hides(session, viewer=caller.member_id, owner=offer.volunteer_id):
        offer = None
    role = role_of(offer, caller) if offer is not None else None
    if (
        role == ORGANIZATION
        and offer is not None
        and await suspended_among(session, member_ids=[offer.volunteer_id], now=utcnow())
    ):
        role = None  # a suspended volunteer's offers stop appearing anywhere
    if offer is None or role is None:
        raise NotFound("No such offer.")
    return offer, role


def _volunteer_suspended() -> ColumnElement[bool]:
    return member_suspended(col(Offer.volunteer_id), utcnow())


async def deactivate(session: AsyncSession, *, offer_id: uuid.UUID, now: datetime) -> None:
    """Pause an offer (a moderator removed it): it leaves every search until its volunteer
    resumes it, and its active matches stay as they are."""
    await session.exec(
        update(Offer)
        .where(col(Offer.id) == offer_id, col(Offer.status) == OfferStatus.active)
        .values(status=OfferStatus.paused, version=col(Offer.version) + 1, updated_at=now)
    )


async def get_own_offer(session: AsyncSession, *, offer_id: uuid.UUID, caller: Caller) -> Offer:
    offer, role = await get_visible_offer(session, offer_id=offer_id, caller=caller)
    if role != OWNER:
        raise Forbidden("Only the volunteer who made an offer can change it.")
    return offer


async def list_offers(
    session: AsyncSession, *, caller: Caller, status: OfferStatus | None, limit: int, cursor: str | None
) -> tuple[list[tuple[Offer, str]], str | None]:
    """The caller's own offers and, for coordinators and keys, their organisations'."""
    mine = [col(Offer.volunteer_id) == caller.member_id] if caller.member_id is not None else []
    # An organisation no longer sees a suspended volunteer's offers: they stop appearing anywhere.
    theirs = (
        [and_(col(Offer.organization_id).in_(caller.organizations()), ~_volunteer_suspended())]
        if caller.organizations()
        else []
    )
    if not mine and not theirs:
        return [], None
    stmt = select(Offer).where(or_(*mine, *theirs))
    if caller.member_id is not None:  # a coordinator's own blocks hide those volunteers' offers
        stmt = stmt.where(blocks.not_blocked_with(col(Offer.volunteer_id), caller.member_id))
    if status is not None:
        stmt = stmt.where(col(Offer.status) == status)
    rows, next_cursor = page_of((await session.exec(newest_first(stmt, Offer, cursor, limit))).all(), limit)
    return [(o, role_of(o, caller) or ORGANIZATION) for o in rows], next_cursor


async def update_offer(
    session: AsyncSession,
    *,
    offer: Offer,
    data: OfferUpdate,
    if_match: set[int] | None,
    limits: TrustLimits | None,
) -> Offer:
    """Change an offer; a new reach is capped by the member's tier (422)."""
    if limits is not None and "max_distance_km" in data.model_fields_set:
        check_reach(data.max_distance_km, limits)
    changes = data.model_dump(mode="json", exclude_unset=True)
    await versioned_update(session, offer, _flatten(changes, offer), if_match=if_match, noun="offer")
    return offer
