"""Optimal batch assignment: a maximum-weight b-matching, solved as a min-cost flow.

Each need may take up to its free slots, each offer up to its free capacity, each pair at most
once. Source -> need (capacity: free slots) -> offer (capacity 1, cost -weight) -> sink
(capacity: free capacity), plus a zero-cost source -> sink bypass so that no unprofitable pair
is forced. Integer costs (weights scaled by 10^6) keep the network simplex exact; the
optimum is optimal for the scaled weights, which differ from the real ones by < 10^-6 a pair.
"""

import uuid
from dataclasses import dataclass

from ortools.graph.python import min_cost_flow

SCALE = 1_000_000


@dataclass(frozen=True)
class Pair:
    need_id: uuid.UUID
    offer_id: uuid.UUID
    weight: float


@dataclass(frozen=True)
class Assignment:
    pairs: list[Pair]
    objective: float


def assign(pairs: list[Pair], slots: dict[uuid.UUID, int], capacity: dict[uuid.UUID, int]) -> Assignment:
    usable = [
        p for p in pairs if p.weight > 0 and slots.get(p.need_id, 0) > 0 and capacity.get(p.offer_id, 0) > 0
    ]
    if not usable:
        return Assignment([], 0.0)
    needs = sorted({p.need_id for p in usable})
    offers = sorted({p.offer_id for p in usable})
    need_node = {n: 2 + i for i, n in enumerate(needs)}
    offer_node = {o: 2 + len(needs) + i for i, o in enumerate(offers)}
    source, sink = 0, 1
    supply = sum(slots[n] for n in needs)

    flow = min_cost_flow.SimpleMinCostFlow()
    arcs: list[tuple[int, int, int, int]] = [(source, need_node[n], slots[n], 0) for n in needs]
    first_pair_arc = len(arcs)
    arcs += [(need_node[p.need_id], offer_node[p.offer_id], 1, -round(p.weight * SCALE)) for p in usable]
    arcs += [(offer_node[o], sink, capacity[o], 0) for o in offers]
    arcs.append((source, sink, supply, 0))  # the bypass: leaving a slot empty costs nothing
    tails, heads, caps, costs = (list(column) for column in zip(*arcs, strict=True))
    flow.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    flow.set_node_supply(source, supply)
    flow.set_node_supply(sink, -supply)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min-cost flow did not solve: {status}")
    chosen = [p for i, p in enumerate(usable) if flow.flow(first_pair_arc + i) > 0]
    return Assignment(chosen, sum(p.weight for p in chosen))
