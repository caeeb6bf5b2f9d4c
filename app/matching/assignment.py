"""Optimal batch assignment: a maximum-weight b-matching, solved as a min-cost flow.

Each need may take up to its free slots, each offer up to its free capacity, each pair at most
once. Source -> need (capacity: free slots) -> offer (capacity 1, cost -weight) -> sink
(capacity: free capacity), plus a zero-cost source -> sink bypass so that no unprofitable pair
is forced. Integer costs (weights scaled by 10^6) keep the network simplex exact; the
optimum is optimal for the scaled weights, which differ from the real ones by < 10^-6 a pair.
"""

import uuid
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

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


@dataclass(frozen=True)
class Network:
    """The flow network of a b-matching, as the arc arrays OR-Tools takes in one call."""

    tails: NDArray[np.int64]
    heads: NDArray[np.int64]
    capacities: NDArray[np.int64]
    costs: NDArray[np.int64]
    supply: int
    pair_arcs: NDArray[np.int64]  # the arcs that carry a pair, in the order of `pairs`
    pairs: NDArray[np.int64]  # positions, among the caller's pairs, of those in the network


def network(
    need: NDArray[np.int64],
    offer: NDArray[np.int64],
    weight: NDArray[np.float64],
    slots: NDArray[np.int64],
    capacity: NDArray[np.int64],
    group: NDArray[np.int64] | None = None,
) -> Network | None:
    """The network for `assign_arrays`, or None when no pair could be worth taking."""
    usable = (weight > 0) & (slots[need] > 0) & (capacity[offer] > 0)
    if not usable.any():
        return None
    pick = np.flatnonzero(usable)
    n_needs, n_offers = slots.size, capacity.size
    source, sink, need_node = 0, 1, 2
    offer_node = need_node + n_needs
    gate_node = offer_node + n_offers
    shared = np.zeros(pick.size, dtype=bool)
    gates = np.zeros(0, np.int64)
    if group is not None:
        key = need[pick] * (int(group.max()) + 1) + group[pick]
        _, gate_of, counts = np.unique(key, return_inverse=True, return_counts=True)
        shared = counts[gate_of] > 1
        _, gates = np.unique(gate_of[shared], return_inverse=True)
    n_gates = int(gates.max()) + 1 if gates.size else 0
    gate_need = np.zeros(n_gates, np.int64)
    gate_need[gates] = need[pick[shared]]
    direct, gated = pick[~shared], pick[shared]
    supply = int(slots.sum())
    cost = -np.round(weight * SCALE).astype(np.int64)
    # Arc blocks, in order: source->need, need->offer (direct pairs), gate->offer (gated pairs),
    # need->gate, offer->sink, and the source->sink bypass that lets a slot stay empty.
    tails = np.concatenate(
        [
            np.zeros(n_needs, np.int64),
            need_node + need[direct],
            gate_node + gates,
            need_node + gate_need,
            offer_node + np.arange(n_offers),
            [source],
        ]
    )
    heads = np.concatenate(
        [
            need_node + np.arange(n_needs),
            offer_node + offer[direct],
            offer_node + offer[gated],
            gate_node + np.arange(n_gates),
            np.full(n_offers, sink),
            [sink],
        ]
    )
    caps = np.concatenate([slots, np.ones(direct.size + gated.size + n_gates, np.int64), capacity, [supply]])
    costs = np.concatenate(
        [np.zeros(n_needs, np.int64), cost[direct], cost[gated], np.zeros(n_gates + n_offers + 1, np.int64)]
    )
    pair_arcs = np.arange(n_needs, n_needs + direct.size + gated.size)
    return Network(tails, heads, caps, costs, supply, pair_arcs, np.concatenate([direct, gated]))


def flows(net: Network) -> NDArray[np.int64]:
    """The optimal flow on each pair arc: the solver alone, on arrays built beforehand."""
    # OR-Tools here, not at import: ~20 MB in every server process, for batch runs only.
    from ortools.graph.python import min_cost_flow

    source, sink = 0, 1
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(net.tails, net.heads, net.capacities, net.costs)
    flow.set_node_supply(source, net.supply)
    flow.set_node_supply(sink, -net.supply)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min-cost flow did not solve: {status}")
    out: NDArray[np.int64] = np.asarray(flow.flows(net.pair_arcs))
    return out


def assign_arrays(
    need: NDArray[np.int64],
    offer: NDArray[np.int64],
    weight: NDArray[np.float64],
    slots: NDArray[np.int64],
    capacity: NDArray[np.int64],
    group: NDArray[np.int64] | None = None,
) -> NDArray[np.bool_]:
    """Which pairs to take. Pair i joins need[i] (row of `slots`) to offer[i] (row of `capacity`).

    With `group` (the offer's volunteer), a need takes at most one pair per group: where a need
    has several pairs in one group, they pass through a gate node of capacity 1; a pair alone
    in its group goes straight from need to offer, keeping the network small."""
    chosen = np.zeros(need.size, dtype=bool)
    net = network(need, offer, weight, slots, capacity, group)
    if net is None:
        return chosen
    chosen[net.pairs[flows(net) > 0]] = True
    return chosen


def assign(pairs: list[Pair], slots: dict[uuid.UUID, int], capacity: dict[uuid.UUID, int]) -> Assignment:
    if not pairs:
        return Assignment([], 0.0)
    needs = sorted({p.need_id for p in pairs} | set(slots))
    offers = sorted({p.offer_id for p in pairs} | set(capacity))
    n_at, o_at = {n: i for i, n in enumerate(needs)}, {o: i for i, o in enumerate(offers)}
    chosen = assign_arrays(
        np.array([n_at[p.need_id] for p in pairs], dtype=np.int64),
        np.array([o_at[p.offer_id] for p in pairs], dtype=np.int64),
        np.array([p.weight for p in pairs], dtype=np.float64),
        np.array([slots.get(n, 0) for n in needs], dtype=np.int64),
        np.array([capacity.get(o, 0) for o in offers], dtype=np.int64),
    )
    taken = [p for p, c in zip(pairs, chosen, strict=True) if c]
    return Assignment(taken, sum(p.weight for p in taken))
