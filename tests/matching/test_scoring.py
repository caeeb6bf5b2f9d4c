"""Proximity depends on the trip alone: of two volunteers alike in all else, the nearer ranks first."""

import math
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from app.geo import EARTH_RADIUS_KM, round_half_km
from app.matching.batch import batch_pairs
from app.matching.facts import Context, NeedFacts, OfferFacts, Slot, category_bit, mode_bit
from app.matching.filters import distance_km
from app.matching.rules import eligible
from app.matching.scoring import ceiling, score
from app.vocab import Category, Mode, mask
from tests.matching.facts import need_facts, offer_facts

NOW = datetime(2030, 3, 20, 12, 0, tzinfo=UTC)
PARIS = (48.8566, 2.3522)
REQUESTER = uuid.UUID(int=1)
VOLUNTEERS = (uuid.UUID(int=2), uuid.UUID(int=3))


def _need(**changes: object) -> NeedFacts:
    """A need for a ride from the centre of Paris."""
    facts: dict[str, Any] = {
        "id": uuid.UUID(int=10),
        "requester_id": REQUESTER,
        "category_bit": category_bit("transport"),
        "lat": PARIS[0],
        "lon": PARIS[1],
        "created_at": NOW,
    }
    return need_facts(**(facts | changes))


def _north(km: float) -> float:
    """The latitude `km` due north of the need: along a meridian the haversine is the arc."""
    return PARIS[0] + math.degrees(km / EARTH_RADIUS_KM)


def _offer(n: int, km: float, reach: float, **changes: object) -> OfferFacts:
    """A driver `km` north of Paris who goes up to `reach` km."""
    transport = mask([Category.transport], Category)
    return offer_facts(
        n,
        _north(km),
        PARIS[1],
        categories_mask=transport,
        max_distance_km=reach,
        timezone="Europe/Paris",
        **changes,
    )


def test_the_field_report_near_short_reach_beats_far_long_reach() -> None:
    """A car 2 km away that drives 5 km, against one 9 km away that drives 50 km, in Paris.

    By hand, with no window (availability 1), no history (continuity 0), a free offer (load 1),
    no languages asked (language 1) and a need posted now (waiting 0), the other parts add
    0.15 + 0.15 + 0.10 = 0.40, and proximity is 1 / (1 + d / 3):
    near: 1 / (1 + 2/3) = 0.6, score 0.40 + 0.30 * 0.6 = 0.58;
    far: 1 / (1 + 9/3) = 0.25, score 0.40 + 0.30 * 0.25 = 0.475.
    (The old 1 - d / reach gave the far one 0.40 + 0.30 * 0.82 = 0.646 and the near one 0.58.)"""
    need, ctx = _need(), Context(now=NOW)
    near, far = _offer(1, 2.0, 5.0), _offer(2, 9.0, 50.0)
    assert score(need, near, ctx).score == 0.58
    assert score(need, near, ctx).breakdown["proximity"] == 0.6
    assert score(need, far, ctx).score == 0.475
    assert score(need, far, ctx).breakdown["proximity"] == 0.25
    pairs = batch_pairs([need], [far, near], ctx)
    assert sorted(zip(pairs.offer.tolist(), pairs.score.tolist(), strict=True)) == [(0, 0.475), (1, 0.58)]


def test_remote_help_is_as_near_as_can_be() -> None:
    need = _need(mode_bit=mode_bit("remote"), lat=None, lon=None)
    offer = _offer(1, 30.0, 1.0, modes_mask=mask([Mode.remote], Mode))
    assert score(need, offer, Context(now=NOW)).breakdown["proximity"] == 1.0
    assert score(need, offer, Context(now=NOW)).score == 0.7


def test_proximity_halves_at_the_scale_and_steps_with_the_rounding() -> None:
    ctx, need = Context(now=NOW), _need()
    by_km = {
        km: score(need, _offer(1, km, 200.0), ctx).breakdown["proximity"] for km in (0.2, 0.3, 3.0, 200.0)
    }
    # 0.2 km shows as 0, 0.3 km as 0.5: 1 / (1 + 0.5/3) = 6/7; 200 km: 1 / (1 + 200/3) = 3/203.
    assert by_km == {0.2: 1.0, 0.3: 0.8571, 3.0: 0.5, 200.0: 0.0148}


@dataclass(frozen=True)
class Shared:
    """Everything but the two offers' places and reaches, drawn once and the same for both."""

    capacity: int
    taken: int
    asked: frozenset[str]
    spoken: frozenset[str]
    waited_h: float
    helped: int
    need_reach: float | None


_LANGUAGES = st.sampled_from(["en", "fr", "ar"])
shared = st.builds(
    Shared,
    capacity=st.integers(1, 5),
    taken=st.integers(0, 4),
    asked=st.frozensets(_LANGUAGES, max_size=2),
    spoken=st.frozensets(_LANGUAGES, max_size=3),
    waited_h=st.floats(0, 200),
    helped=st.integers(0, 4),
    need_reach=st.one_of(st.none(), st.floats(0.1, 200)),
)
km = st.floats(0.0, 199.0)
reach = st.floats(0.0, 1.0)  # as a share of the room left between the trip and 200 km


def _cover(d: float) -> float:
    """A reach that takes in a trip of about `d` km: reaches compare the distance rounded to
    0.5 km, and the placed point's distance may round a step above `d`'s."""
    return round_half_km(d) + 0.5


def _pair(
    facts: Shared, d1: float, d2: float, r1: float, r2: float
) -> tuple[NeedFacts, list[OfferFacts], Context]:
    need = _need(
        languages=facts.asked,
        created_at=NOW - timedelta(hours=facts.waited_h),
        max_distance_km=None if facts.need_reach is None else max(facts.need_reach, _cover(d1), _cover(d2)),
    )
    common = {
        "capacity": facts.capacity,
        "active_matches": min(facts.capacity - 1, facts.taken),
        # Sharing one language the need asks for, so the pair stays eligible.
        "languages": facts.spoken | frozenset(sorted(facts.asked)[:1]),
    }
    # Two volunteers with the same history with the requester: nothing but the trip and the
    # reach tells their offers apart.
    offers = [
        _offer(1, d1, _cover(d1) + r1 * (200 - _cover(d1)), volunteer_id=VOLUNTEERS[0], **common),
        _offer(2, d2, _cover(d2) + r2 * (200 - _cover(d2)), volunteer_id=VOLUNTEERS[1], **common),
    ]
    ctx = Context(now=NOW, history={(v, REQUESTER): facts.helped for v in VOLUNTEERS if facts.helped})
    return need, offers, ctx


def _ordered(need: NeedFacts, offers: list[OfferFacts], scores: list[float]) -> None:
    """The nearer (as callers see distances, in 0.5 km steps) scores strictly more; alike, alike."""
    shown = [round_half_km(distance_km(need, o) or 0.0) for o in offers]
    if shown[0] < shown[1]:
        assert scores[0] > scores[1]
    elif shown[0] > shown[1]:
        assert scores[0] < scores[1]
    else:
        assert scores[0] == scores[1]


@settings(max_examples=300, deadline=None)
@given(shared, km, km, reach, reach)
def test_nearer_scores_more_whatever_the_reach(
    facts: Shared, d1: float, d2: float, r1: float, r2: float
) -> None:
    need, offers, ctx = _pair(facts, d1, d2, r1, r2)
    assert all(eligible(need, o, ctx) for o in offers)
    _ordered(need, offers, [score(need, o, ctx).score for o in offers])


@settings(max_examples=150, deadline=None)
@given(shared, km, km, reach, reach)
def test_nearer_scores_more_in_the_batch_arrays_too(
    facts: Shared, d1: float, d2: float, r1: float, r2: float
) -> None:
    need, offers, ctx = _pair(facts, d1, d2, r1, r2)
    found = batch_pairs([need], offers, ctx)
    by_offer = dict(zip(found.offer.tolist(), found.score.tolist(), strict=True))
    assert sorted(by_offer) == [0, 1]
    _ordered(need, offers, [by_offer[0], by_offer[1]])
    assert [by_offer[0], by_offer[1]] == [score(need, o, ctx).score for o in offers]


_WINDOW_H = st.one_of(st.none(), st.integers(1, 72))
_SLOTS = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 23), st.integers(1, 6)).map(
        lambda t: Slot(day=t[0], start=t[1] * 60, end=min(24 * 60, (t[1] + t[2]) * 60))
    ),
    max_size=3,
)


@settings(max_examples=300, deadline=None)
@given(shared, km, st.floats(0.0, 50.0), reach, _WINDOW_H, _SLOTS)
def test_no_offer_as_far_or_further_outscores_the_ceiling(
    facts: Shared, d: float, beyond: float, r: float, window_h: int | None, slots: list[Slot]
) -> None:
    """What lets a candidate search stop walking (app.dispatch.candidates): an eligible offer at
    least `d` km away scores at most `ceiling(d)`, given the most the requester's history holds."""
    need, offers, ctx = _pair(facts, min(199.0, d + beyond), d, r, r)
    if window_h is not None:
        start = NOW + timedelta(hours=3)
        need = replace(need, window_start=start, window_end=start + timedelta(hours=window_h))
    far = replace(offers[0], slots=tuple(slots))
    if not eligible(need, far, ctx):
        return  # the window fits none of the slots: not a candidate at all
    most = max(ctx.history.values(), default=0)
    assert score(need, far, ctx).score <= ceiling(need, ctx, distance_km(need, offers[1]), most)
