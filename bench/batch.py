"""Batch assignment at city scale: 10,000 open needs x 50,000 active offers, end to end in memory.

    uv run python -m bench.batch [--needs 10000] [--offers 50000] [--seed 1]

Builds the matching facts straight from the synthetic city (no database), then times the two
stages a run performs: eligible pairs with scores, and the optimal assignment.
"""

import argparse
import random
import time
import tracemalloc
import uuid
from dataclasses import dataclass

import numpy as np

from app.geo import coarse_point
from app.matching.assignment import assign_arrays
from app.matching.batch import batch_pairs
from app.matching.facts import Context, NeedFacts, OfferFacts, category_bit, mode_bit, slots_from
from app.matching.scoring import priority
from app.vocab import Capability, Category, Mode, mask
from bench import city


def build(n_needs: int, n_offers: int, seed: int) -> tuple[list[NeedFacts], list[OfferFacts], Context]:
    rng = random.Random(seed)
    hoods = city.neighbourhoods(rng)
    volunteers = city.ids(max(1, n_offers // 3), rng)
    offers = []
    for oid in city.ids(n_offers, rng):
        f = city.offer_fields(rng, hoods)
        lat, lon = coarse_point(f["lat"], f["lon"])
        offers.append(
            OfferFacts(
                id=oid,
                volunteer_id=rng.choice(volunteers),
                organization_id=None,
                categories_mask=mask(f["categories"], Category),
                modes_mask=mask(f["modes"], Mode),
                lat=lat,
                lon=lon,
                max_distance_km=f["max_distance_km"],
                slots=slots_from(f["availability"]),
                timezone=f["timezone"],
                capacity=f["capacity"],
                active_matches=0,
                languages=frozenset(f["languages"]),
                capabilities_mask=mask(f["capabilities"], Capability),
                active=True,
            )
        )
    needs = []
    for nid in city.ids(n_needs, rng):
        f = city.need_fields(rng, hoods, city.NOW)
        lat, lon = coarse_point(f["lat"], f["lon"])
        start, end = f["window"] or (None, None)
        needs.append(
            NeedFacts(
                id=nid,
                requester_id=uuid.UUID(int=rng.getrandbits(128)),
                organization_id=None,
                category_bit=category_bit(f["category"]),
                mode_bit=mode_bit(f["mode"]),
                lat=lat,
                lon=lon,
                max_distance_km=None,
                languages=frozenset(f["languages"]),
                requirements_mask=mask(f["requirements"], Capability),
                window_start=start,
                window_end=end,
                urgency=f["urgency"],
                created_at=f["created_at"],
            )
        )
    return needs, offers, Context(now=city.NOW)


@dataclass
class Found:
    need: np.ndarray
    offer: np.ndarray
    seconds: float


def run(needs: list[NeedFacts], offers: list[OfferFacts], ctx: Context, top_k: int | None):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    pairs = batch_pairs(needs, offers, ctx, top_k=top_k)
    found = Found(pairs.need, pairs.offer, time.perf_counter() - t0)
    weight = pairs.score * np.array([priority(n, ctx) for n in needs])[pairs.need]
    chosen = assign_arrays(
        pairs.need,
        pairs.offer,
        weight,
        np.ones(len(needs), np.int64),
        np.array([o.capacity - o.active_matches for o in offers], np.int64),
        group=pairs.volunteer,  # as runs do: one volunteer fills one slot of a need
    )
    return found, weight, chosen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--needs", type=int, default=10_000)
    parser.add_argument("--offers", type=int, default=50_000)
    parser.add_argument("--top-k", type=int, default=25, help="pairs kept per need (0: all)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    needs, offers, ctx = build(args.needs, args.offers, args.seed)
    t0 = time.perf_counter()
    found, weight, chosen = run(needs, offers, ctx, args.top_k or None)
    t1 = time.perf_counter()
    # Memory in a second pass: tracing slows Python several times over, so never while timing.
    tracemalloc.start()
    run(needs, offers, ctx, args.top_k or None)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"needs={len(needs)} offers={len(offers)} top_k={args.top_k} candidate_pairs={found.need.size} "
        f"assigned={int(chosen.sum())} objective={float(weight[chosen].sum()):.3f}"
    )
    print(
        f"pairs+scores+assignment {1000 * (t1 - t0):.0f} ms "
        f"(pairs {1000 * found.seconds:.0f} ms, assignment {1000 * (t1 - t0 - found.seconds):.0f} ms) | "
        f"peak traced memory {peak / 2**20:.0f} MiB"
    )


if __name__ == "__main__":
    main()
