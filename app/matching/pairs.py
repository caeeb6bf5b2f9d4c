"""Every eligible (need, offer) pair of a batch, found through an H3 bucket index of offers."""

from collections import defaultdict
from dataclasses import dataclass

import h3

from app.geo import covering_cells, resolution_for
from app.matching.facts import REMOTE, Context, NeedFacts, OfferFacts
from app.matching.filters import eligible
from app.matching.scoring import Scored, score


@dataclass(frozen=True)
class ScoredPair:
    need: NeedFacts
    offer: OfferFacts
    scored: Scored


def eligible_pairs(needs: list[NeedFacts], offers: list[OfferFacts], ctx: Context) -> list[ScoredPair]:
    if not needs or not offers:
        return []
    reach = max(o.max_distance_km for o in offers)
    res = resolution_for(reach)
    buckets: dict[int, list[OfferFacts]] = defaultdict(list)
    remote: list[OfferFacts] = []
    for o in offers:
        buckets[h3.str_to_int(h3.latlng_to_cell(o.lat, o.lon, res))].append(o)
        if o.modes_mask & REMOTE:
            remote.append(o)
    out = []
    for need in needs:
        if not need.in_person:
            nearby = remote
        elif need.lat is None or need.lon is None:
            continue
        else:
            limit = min(reach, need.max_distance_km or reach)
            nearby = [
                o for cell in covering_cells(need.lat, need.lon, limit, res) for o in buckets.get(cell, ())
            ]
        for offer in nearby:
            if eligible(need, offer, ctx):
                out.append(ScoredPair(need, offer, score(need, offer, ctx)))
    return out
