"""The score of an eligible pair, in [0, 1], with the breakdown a caller can read.

docs/matching.md explains the weights and why each component is there.
"""

from dataclasses import dataclass

from app.geo import round_half_km
from app.matching.availability import overlap_minutes, window_in_week, window_minutes
from app.matching.facts import Context, NeedFacts, OfferFacts
from app.matching.filters import distance_km

WEIGHTS = {
    "proximity": 0.30,
    "availability": 0.15,
    "continuity": 0.15,
    "load": 0.15,
    "language": 0.10,
    "waiting": 0.15,
}
URGENCY_WEIGHT = {"low": 1.0, "normal": 1.5, "high": 2.0, "urgent": 3.0}
WAIT_SATURATION_HOURS = 72.0
CONTINUITY_SATURATION = 3
# The trip at which proximity is worth half: about a 40-minute walk or a short drive across town.
PROXIMITY_SCALE_KM = 3.0
# The most availability, load and language can be, whatever the pair: what `ceiling` and its array
# form `arrays.ceilings` assume of offers not yet seen (proximity, continuity and waiting they bound
# from the distance, the shared history and the need itself).
AT_MOST = {"availability": 1.0, "load": 1.0, "language": 1.0}


@dataclass(frozen=True)
class Scored:
    score: float
    breakdown: dict[str, float]
    distance_km: float | None


def proximity(d: float | None) -> float:
    """1 / (1 + d / PROXIMITY_SCALE_KM) for a trip of `d` km (1 for remote help, d None).

    A function of the trip alone: how far either side is willing to go decides only whether the
    pair is eligible, so of two volunteers alike in all else the nearer ranks first, whatever
    their reach. From the distance rounded to 0.5 km, as callers see it (a finer one would let
    score and breakdown undo the rounding), so a nearer step scores strictly more; the curve's
    long tail keeps steps apart in the score's sixth decimal out to the longest reach (200 km).
    """
    if d is None:
        return 1.0
    return 1.0 / (1.0 + round_half_km(d) / PROXIMITY_SCALE_KM)


def _availability(need: NeedFacts, offer: OfferFacts) -> float:
    if need.window_start is None or need.window_end is None:
        return 1.0
    if not offer.slots:
        return 0.5  # flexible, but nothing promised
    pieces = window_in_week(need.window_start, need.window_end, offer.timezone)
    return min(1.0, overlap_minutes(pieces, offer.slots) / max(1, window_minutes(pieces)))


def components(need: NeedFacts, offer: OfferFacts, ctx: Context, d: float | None) -> dict[str, float]:
    """Each component of the score, unrounded, for a pair whose `distance_km` is `d`."""
    helped = ctx.history.get((offer.volunteer_id, need.requester_id), 0) if need.requester_id else 0
    waited = (ctx.now - need.created_at).total_seconds() / 3600
    return {
        "proximity": proximity(d),
        "availability": _availability(need, offer),
        "continuity": min(1.0, helped / CONTINUITY_SATURATION),
        "load": 1.0 - offer.active_matches / offer.capacity,
        "language": len(need.languages & offer.languages) / len(need.languages) if need.languages else 1.0,
        "waiting": min(1.0, max(0.0, waited) / WAIT_SATURATION_HOURS),
    }


def ceiling(need: NeedFacts, ctx: Context, d: float | None, helped: int) -> float:
    """The highest score any eligible offer `d` km or more away could have, for a requester who
    completed at most `helped` matches with any one volunteer: proximity at `d` (it only falls
    with the trip), the waiting time (the need's own), and every other component at the most it
    can be. A search that has `limit` candidates scoring at least this has the best scores there
    are, whatever lies further (docs/matching.md)."""
    waited = (ctx.now - need.created_at).total_seconds() / 3600
    parts = {
        "proximity": proximity(d),
        "continuity": min(1.0, helped / CONTINUITY_SATURATION),
        "waiting": min(1.0, max(0.0, waited) / WAIT_SATURATION_HOURS),
        **AT_MOST,
    }
    return total({name: parts[name] for name in WEIGHTS})  # summed in the weights' order, as every score


def round_score(value: float) -> float:
    """To 6 decimals, half to even on the scaled value: the same IEEE steps as the array form's
    `np.round(x, 6)` (rint of x * 1e6, then / 1e6), so a pair scores the same in every path.
    Python's `round(x, 6)` rounds the exact decimal expansion instead and differs at halves."""
    return round(value * 1e6) / 1e6


def total(parts: dict[str, float]) -> float:
    return round_score(sum(WEIGHTS[k] * v for k, v in parts.items()))


def scored(parts: dict[str, float], d: float | None) -> Scored:
    return Scored(total(parts), {k: round(v, 4) for k, v in parts.items()}, d)


def score(need: NeedFacts, offer: OfferFacts, ctx: Context) -> Scored:
    d = distance_km(need, offer)
    return scored(components(need, offer, ctx, d), d)


def priority(need: NeedFacts, ctx: Context) -> float:
    """How much a need's match counts in a batch run: urgency times (1 + waiting)."""
    waited = max(0.0, (ctx.now - need.created_at).total_seconds() / 3600)
    return URGENCY_WEIGHT[need.urgency] * (1.0 + min(1.0, waited / WAIT_SATURATION_HOURS))
