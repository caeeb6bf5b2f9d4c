"""The batch assignment is optimal: checked against an independent LP on 200 random instances."""

import random
import uuid

import numpy as np
from scipy.optimize import LinearConstraint, milp

from app.matching.assignment import Pair, assign


def _instance(rng: random.Random) -> tuple[list[Pair], dict[uuid.UUID, int], dict[uuid.UUID, int]]:
    needs = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(rng.randint(1, 7))]
    offers = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(rng.randint(1, 7))]
    slots = {n: rng.randint(1, 3) for n in needs}
    capacity = {o: rng.randint(1, 3) for o in offers}
    pairs = [
        Pair(n, o, round(rng.uniform(0.01, 3.0), 6)) for n in needs for o in offers if rng.random() < 0.6
    ]
    return pairs, slots, capacity


def _lp_optimum(
    pairs: list[Pair],
    slots: dict[uuid.UUID, int],
    capacity: dict[uuid.UUID, int],
    groups: list[int] | None = None,
) -> float:
    """Maximise total weight with x in {0, 1} per pair, per-need and per-offer limits and, with
    `groups`, at most one pair per (need, group) (HiGHS MILP)."""
    if not pairs:
        return 0.0
    rows, bounds = [], []
    for node, limit in [*slots.items(), *capacity.items()]:
        rows.append([1.0 if node in (p.need_id, p.offer_id) else 0.0 for p in pairs])
        bounds.append(limit)
    if groups is not None:
        keyed = [(p.need_id, g) for p, g in zip(pairs, groups, strict=True)]
        for key in set(keyed):
            rows.append([1.0 if k == key else 0.0 for k in keyed])
            bounds.append(1)
    weights = np.array([p.weight for p in pairs])
    res = milp(
        -weights,
        constraints=LinearConstraint(np.array(rows), -np.inf, np.array(bounds)),
        integrality=np.ones(len(pairs)),
        bounds=(0, 1),
    )
    assert res.success
    return float(-res.fun)


def test_assignment_matches_an_lp_reference_on_200_random_instances() -> None:
    rng = random.Random(4242)
    for _ in range(200):
        pairs, slots, capacity = _instance(rng)
        result = assign(pairs, slots, capacity)
        chosen = result.pairs
        assert len({(p.need_id, p.offer_id) for p in chosen}) == len(chosen)
        for need, limit in slots.items():
            assert sum(p.need_id == need for p in chosen) <= limit
        for offer, limit in capacity.items():
            assert sum(p.offer_id == offer for p in chosen) <= limit
        assert abs(result.objective - _lp_optimum(pairs, slots, capacity)) < 1e-5 * max(1, len(pairs))


def test_a_greedy_choice_is_not_what_it_makes() -> None:
    # Greedy takes the 0.9 pair and leaves both others unmatched; the optimum takes 0.8 + 0.8.
    a, b, x, y = (uuid.UUID(int=i) for i in range(4))
    pairs = [Pair(a, x, 0.9), Pair(a, y, 0.8), Pair(b, x, 0.8)]
    result = assign(pairs, {a: 1, b: 1}, {x: 1, y: 1})
    assert {(p.need_id, p.offer_id) for p in result.pairs} == {(a, y), (b, x)}
    assert abs(result.objective - 1.6) < 1e-9


def test_nothing_to_assign() -> None:
    assert assign([], {}, {}).pairs == []


def test_one_pair_per_need_and_volunteer_is_still_optimal() -> None:
    from app.matching.assignment import assign_arrays

    rng = random.Random(77)
    for _ in range(200):
        pairs, slots, capacity = _instance(rng)
        if not pairs:
            continue
        offers = sorted(capacity)
        volunteer_of = {o: rng.randrange(3) for o in offers}  # few volunteers, several offers each
        needs = sorted(slots)
        groups = [volunteer_of[p.offer_id] for p in pairs]
        chosen = assign_arrays(
            np.array([needs.index(p.need_id) for p in pairs]),
            np.array([offers.index(p.offer_id) for p in pairs]),
            np.array([p.weight for p in pairs]),
            np.array([slots[n] for n in needs]),
            np.array([capacity[o] for o in offers]),
            group=np.array(groups),
        )
        taken = [(p, g) for p, g, c in zip(pairs, groups, chosen, strict=True) if c]
        assert len({(p.need_id, g) for p, g in taken}) == len(taken)
        total = sum(p.weight for p, _ in taken)
        assert abs(total - _lp_optimum(pairs, slots, capacity, groups)) < 1e-5 * len(pairs)
