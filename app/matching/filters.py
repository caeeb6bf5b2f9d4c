"""Hard filters per pair: a (need, offer) pair is a candidate only if every one holds.

app.matching.rules lists them, in order, with their array and SQL forms."""

from app.geo import haversine_km, within_reach_km
from app.matching.availability import overlap_minutes, window_in_week
from app.matching.facts import BACKGROUND_CHECKED, Context, NeedFacts, OfferFacts


def distance_km(need: NeedFacts, offer: OfferFacts) -> float | None:
    """Between the two coarse points; None for remote help or a need without a point."""
    if not need.in_person or need.lat is None or need.lon is None:
        return None
    return haversine_km(need.lat, need.lon, offer.lat, offer.lon)


def within_reach(need: NeedFacts, offer: OfferFacts) -> bool:
    return reaches(need, offer, distance_km(need, offer))


def reaches(need: NeedFacts, offer: OfferFacts, d: float | None) -> bool:
    """`within_reach` for a pair whose `distance_km` is already known; each reach is compared at
    the 0.5 km rounding callers see (app.geo.within_reach_km says why)."""
    if d is None:
        return not need.in_person  # in-person help without a point cannot be placed
    limit = (
        offer.max_distance_km
        if need.max_distance_km is None
        else min(offer.max_distance_km, need.max_distance_km)
    )
    return within_reach_km(d, limit)


def available(need: NeedFacts, offer: OfferFacts) -> bool:
    if need.window_start is None or need.window_end is None or not offer.slots:
        return True
    pieces = window_in_week(need.window_start, need.window_end, offer.timezone)
    return overlap_minutes(pieces, offer.slots) > 0


def vetted(need: NeedFacts, offer: OfferFacts, ctx: Context) -> bool:
    """A background check counts only when the need's own organisation vetted the volunteer
    (anyone can start an organisation, so nobody else's word will do)."""
    orgs = ctx.vetted_by.get(offer.volunteer_id, frozenset())
    return need.organization_id is not None and need.organization_id in orgs


def requirements_met(need: NeedFacts, offer: OfferFacts, ctx: Context) -> bool:
    plain = need.requirements_mask & ~BACKGROUND_CHECKED
    if offer.capabilities_mask & plain != plain:
        return False
    return not need.requirements_mask & BACKGROUND_CHECKED or vetted(need, offer, ctx)


# Each hard filter per pair, as app.matching.rules names them: (need, offer, context) -> holds.


def offer_active(need: NeedFacts, offer: OfferFacts, ctx: Context) -> bool:
    return offer.active


def offer_has_room(need: NeedFacts, offer: OfferFacts, ctx: Context) -> bool:
    return offer.active_matches < offer.capacity


def not_own_need(need: NeedFacts, offer: OfferFacts, ctx: Context) -> bool:
    return offer.volunteer_id != need.requester_id


def category_offered(need: NeedFacts, offer: OfferFacts, ctx: Context) -> bool:
    return bool(offer.categories_mask & need.category_bit)


def mode_offered(need: NeedFacts, offer: OfferFacts, ctx: Context) -> bool:
    return bool(offer.modes_mask & need.mode_bit)


def language_shared(need: NeedFacts, offer: OfferFacts, ctx: Context) -> bool:
    return not need.languages or bool(need.languages & offer.languages)


def not_joined(need: NeedFacts, offer: OfferFacts, ctx: Context) -> bool:
    """No active match joins the pair, nor the volunteer (through any offer) to the need."""
    return (need.id, offer.id) not in ctx.active_pairs and (
        need.id,
        offer.volunteer_id,
    ) not in ctx.active_volunteers


def in_reach(need: NeedFacts, offer: OfferFacts, ctx: Context) -> bool:
    return within_reach(need, offer)


def meets_requirements(need: NeedFacts, offer: OfferFacts, ctx: Context) -> bool:
    return requirements_met(need, offer, ctx)


def window_fits(need: NeedFacts, offer: OfferFacts, ctx: Context) -> bool:
    return available(need, offer)


def not_suspended(need: NeedFacts, offer: OfferFacts, ctx: Context) -> bool:
    """Neither the volunteer nor the requester is suspended."""
    return offer.volunteer_id not in ctx.suspended and need.requester_id not in ctx.suspended


def email_verified(need: NeedFacts, offer: OfferFacts, ctx: Context) -> bool:
    """The need's organisation does not require verified volunteers, or this one verified
    their address."""
    return need.organization_id not in ctx.verifying or offer.volunteer_id in ctx.verified


def not_blocked(need: NeedFacts, offer: OfferFacts, ctx: Context) -> bool:
    """Neither the requester nor the volunteer blocked the other (a need for no member: never)."""
    return need.requester_id is None or (need.requester_id, offer.volunteer_id) not in ctx.blocked
