"""Facts for the engine's tests: synthetic needs and offers built in one place."""

import uuid
from dataclasses import replace
from datetime import datetime

from app.matching.facts import NeedFacts, OfferFacts, category_bit, mode_bit
from app.vocab import Category, Mode, mask


def offer_facts(n: int, lat: float, lon: float, **changes: object) -> OfferFacts:
    """Offer number `n` at (`lat`, `lon`): groceries in person within 10 km, any time (no
    slots), room for one more, active; `changes` replace any fact."""
    offer = OfferFacts(
        id=uuid.UUID(int=100 + n),
        volunteer_id=uuid.UUID(int=200 + n),
        organization_id=None,
        categories_mask=mask([Category.groceries], Category),
        modes_mask=mask([Mode.in_person], Mode),
        lat=lat,
        lon=lon,
        max_distance_km=10.0,
        slots=(),
        timezone="UTC",
        capacity=1,
        active_matches=0,
        languages=frozenset(),
        capabilities_mask=0,
        active=True,
    )
    return replace(offer, **changes)  # type: ignore[arg-type]


def need_facts(*, lat: float, lon: float, created_at: datetime, **changes: object) -> NeedFacts:
    """A need for groceries in person at (`lat`, `lon`): no reach of its own, no language, no
    requirement, any time, normal urgency; `changes` replace any fact."""
    need = NeedFacts(
        id=uuid.UUID(int=1),
        requester_id=uuid.UUID(int=2),
        organization_id=None,
        category_bit=category_bit(Category.groceries),
        mode_bit=mode_bit("in_person"),
        lat=lat,
        lon=lon,
        max_distance_km=None,
        languages=frozenset(),
        requirements_mask=0,
        window_start=None,
        window_end=None,
        urgency="normal",
        created_at=created_at,
    )
    return replace(need, **changes)  # type: ignore[arg-type]
