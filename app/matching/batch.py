"""Eligible pairs and their scores for a whole batch, vectorised with numpy.

The same filters and score as `filters.first_failure` and `scoring.score`, computed for all of
a need's nearby offers at once: offers are grouped by category, each group in a k-d tree of
unit vectors, so a need looks only at offers of its category within the longest reach. A test
checks that this and the one-pair functions agree on random data.

`top_k` keeps each need's k best-scoring pairs (the assignment is then optimal over that
candidate graph); None keeps every eligible pair.
"""

import math
import uuid
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from app.geo import EARTH_RADIUS_KM
from app.matching.availability import window_in_week
from app.matching.facts import BACKGROUND_CHECKED, REMOTE, Context, NeedFacts, OfferFacts
from app.matching.scoring import CONTINUITY_SATURATION, WAIT_SATURATION_HOURS, WEIGHTS
from app.vocab import Category, Mode, mask

IN_PERSON = mask([Mode.in_person], Mode)
REACH_CLASSES = np.array([1.0, 2.0, 3.0, 5.0, 8.0, 10.0, 15.0, 25.0, 50.0, 100.0, 200.0])
F = NDArray[np.float64]
Ints = NDArray[np.int64]


class TooManyLanguages(ValueError):
    """More distinct languages than one 64-bit mask holds."""


@dataclass(frozen=True)
class BatchPairs:
    need: Ints  # index into the needs list
    offer: Ints  # index into the offers list
    score: F
    distance_km: F  # NaN for remote help
    volunteer: Ints  # the offer's volunteer, as an index: one volunteer fills one slot of a need


def _unit(lat: F, lon: F) -> NDArray[np.float64]:
    p, la = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(p) * np.cos(la), np.cos(p) * np.sin(la), np.sin(p)], axis=1)


def _haversine(lat1: float, lon1: float, lat2: F, lon2: F) -> F:
    p1, p2 = math.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    out: F = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(1.0, a)))
    return out


class OfferTable:
    """The offers as columns, plus per-category spatial indexes."""

    def __init__(self, offers: list[OfferFacts], ctx: Context, languages: dict[str, int]) -> None:
        self.offers = offers
        n = len(offers)
        self.lat = np.array([o.lat for o in offers], dtype=np.float64)
        self.lon = np.array([o.lon for o in offers], dtype=np.float64)
        self.reach = np.array([o.max_distance_km for o in offers], dtype=np.float64)
        self.free = np.array([o.active and o.active_matches < o.capacity for o in offers], dtype=bool)
        self.load = np.array([1.0 - o.active_matches / o.capacity for o in offers], dtype=np.float64)
        self.caps = np.array([o.capabilities_mask for o in offers], dtype=np.int64)
        self.langs = np.array(
            [sum(1 << languages[x] for x in o.languages if x in languages) for o in offers], dtype=np.int64
        )
        volunteers = {v: i for i, v in enumerate(sorted({o.volunteer_id for o in offers}))}
        self.volunteer_index = volunteers
        self.volunteer = np.array([volunteers[o.volunteer_id] for o in offers], dtype=np.int64)
        self.vetted_by = [
            ctx.vetted_by.get(v, frozenset()) for v in sorted(volunteers, key=volunteers.__getitem__)
        ]
        width = max([len(o.slots) for o in offers] + [1])
        self.slot_day = np.full((n, width), -1, dtype=np.int64)
        self.slot_start = np.zeros((n, width), dtype=np.int64)
        self.slot_end = np.zeros((n, width), dtype=np.int64)
        for i, o in enumerate(offers):
            for j, s in enumerate(o.slots):
                self.slot_day[i, j], self.slot_start[i, j], self.slot_end[i, j] = s.day, s.start, s.end
        self.has_slots = self.slot_day[:, 0] >= 0
        self.timezones = sorted({o.timezone for o in offers})
        self.tz = np.array([self.timezones.index(o.timezone) for o in offers], dtype=np.int64)
        xyz = _unit(self.lat, self.lon) if n else np.zeros((0, 3))
        # Per category, one tree per reach class: a need asks each class only as far as it reaches.
        self.near: dict[int, list[tuple[Ints, cKDTree, float]]] = {}
        self.remote: dict[int, Ints] = {}
        cat_masks = np.array([o.categories_mask for o in offers], dtype=np.int64)
        mode_masks = np.array([o.modes_mask for o in offers], dtype=np.int64)
        for bit in (mask([c], Category) for c in Category):
            group = (cat_masks & bit != 0) & self.free
            local = np.flatnonzero(group & (mode_masks & IN_PERSON != 0))
            classes = np.searchsorted(REACH_CLASSES, self.reach[local])
            self.near[bit] = []
            for c in np.unique(classes):
                members = local[classes == c]
                self.near[bit].append((members, cKDTree(xyz[members]), float(self.reach[members].max())))
            self.remote[bit] = np.flatnonzero(group & (mode_masks & REMOTE != 0))
        self._vetted_cache: dict[uuid.UUID | None, NDArray[np.bool_]] = {}

    def vetted_for(self, organization_id: uuid.UUID | None) -> NDArray[np.bool_]:
        if organization_id not in self._vetted_cache:
            by_volunteer = np.array(
                [organization_id is not None and organization_id in orgs for orgs in self.vetted_by],
                dtype=bool,
            )
            self._vetted_cache[organization_id] = (
                by_volunteer[self.volunteer] if by_volunteer.size else by_volunteer
            )
        return self._vetted_cache[organization_id]


def _zones(table: OfferTable, idx: Ints) -> list[int]:
    return [0] if len(table.timezones) == 1 else [int(z) for z in np.unique(table.tz[idx])]


def _overlap(table: OfferTable, idx: Ints, need: NeedFacts) -> F:
    """Minutes of each offer's weekly slots inside the need's window (the scalar overlap_minutes)."""
    total = np.zeros(idx.size, dtype=np.float64)
    assert need.window_start is not None
    assert need.window_end is not None
    for tz_index in _zones(table, idx):
        rows = np.flatnonzero(table.tz[idx] == tz_index)
        sub = idx[rows]
        pieces = window_in_week(need.window_start, need.window_end, table.timezones[int(tz_index)])
        acc = np.zeros(sub.size, dtype=np.float64)
        for day, begin, finish in pieces:
            hit = table.slot_day[sub] == day
            span = np.minimum(finish, table.slot_end[sub]) - np.maximum(begin, table.slot_start[sub])
            acc += np.where(hit, np.maximum(0, span), 0).sum(axis=1)
        total[rows] = acc
    return total


def _window_minutes(need: NeedFacts, table: OfferTable, idx: Ints) -> F:
    assert need.window_start is not None
    assert need.window_end is not None
    out = np.zeros(idx.size, dtype=np.float64)
    for tz_index in _zones(table, idx):
        pieces = window_in_week(need.window_start, need.window_end, table.timezones[int(tz_index)])
        out[table.tz[idx] == tz_index] = sum(f - b for _, b, f in pieces)
    return out


def _chord(km: F) -> F:
    """A chord a hair longer than the arc, so the exact haversine filter has the last word."""
    return 2 * np.sin(np.minimum(math.pi, km * 1.001 / EARTH_RADIUS_KM) / 2)


def nearby(table: OfferTable, needs: list[NeedFacts]) -> dict[int, list[Ints]]:
    """For each in-person need (by position), the offers of its category within their class's reach.

    One tree query per (category, reach class) for all needs at once, not one per need."""
    out: dict[int, list[Ints]] = {}
    by_category: dict[int, list[int]] = {}
    for i, n in enumerate(needs):
        if n.in_person and n.lat is not None and n.lon is not None:
            by_category.setdefault(n.category_bit, []).append(i)
    for bit, positions in by_category.items():
        group = [needs[i] for i in positions]
        points = _unit(
            np.array([n.lat for n in group], dtype=np.float64),
            np.array([n.lon for n in group], dtype=np.float64),
        )
        limits = np.array([n.max_distance_km or np.inf for n in group])
        for members, tree, longest in table.near.get(bit, []):
            hits = tree.query_ball_point(points, _chord(np.minimum(longest, limits)), return_sorted=False)
            for pos, found in zip(positions, hits, strict=True):
                if found:
                    out.setdefault(pos, []).append(members[np.asarray(found, dtype=np.int64)])
    return out


def _pair_filters(
    table: OfferTable, need: NeedFacts, languages: dict[str, int], active: set[int], busy: set[int], idx: Ints
) -> Ints:
    """The cheap per-offer filters: own need, language, capabilities, vetting, active pairs."""
    keep = np.ones(idx.size, dtype=bool)
    if need.requester_id is not None and need.requester_id in table.volunteer_index:
        keep &= table.volunteer[idx] != table.volunteer_index[need.requester_id]
    if need.languages:
        keep &= table.langs[idx] & sum(1 << languages[x] for x in need.languages) != 0
    plain = need.requirements_mask & ~BACKGROUND_CHECKED
    if plain:
        keep &= table.caps[idx] & plain == plain
    if need.requirements_mask & BACKGROUND_CHECKED:
        keep &= table.vetted_for(need.organization_id)[idx]
    if active:
        keep &= ~np.isin(idx, np.fromiter(active, dtype=np.int64))
    if busy:  # volunteers already joined to this need, through any offer
        keep &= ~np.isin(table.volunteer[idx], np.fromiter(busy, dtype=np.int64))
    return idx[keep]


def _for_need(
    table: OfferTable,
    need: NeedFacts,
    ctx: Context,
    languages: dict[str, int],
    active: set[int],
    busy: set[int],
    near: list[Ints] | None,
) -> tuple[Ints, F, F]:
    if need.in_person:
        if need.lat is None or need.lon is None or not near:
            return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
        idx = _pair_filters(table, need, languages, active, busy, np.concatenate(near))
        d = _haversine(need.lat, need.lon, table.lat[idx], table.lon[idx])
        keep = d <= table.reach[idx]
        if need.max_distance_km is not None:
            keep &= d <= need.max_distance_km
        idx, d = idx[keep], d[keep]
    else:
        idx = _pair_filters(
            table, need, languages, active, busy, table.remote.get(need.category_bit, np.zeros(0, np.int64))
        )
        d = np.full(idx.size, np.nan)
    availability = np.ones(idx.size)
    if need.window_start is not None and need.window_end is not None and idx.size:
        slotted = table.has_slots[idx]
        availability[~slotted] = 0.5  # flexible, but nothing promised
        sub = idx[slotted]
        if sub.size:
            overlap = _overlap(table, sub, need)
            availability[slotted] = np.minimum(
                1.0, overlap / np.maximum(1, _window_minutes(need, table, sub))
            )
            keep = np.ones(idx.size, dtype=bool)
            keep[np.flatnonzero(slotted)[overlap == 0]] = False
            idx, d, availability = idx[keep], d[keep], availability[keep]
    return idx, d, _scores(table, need, ctx, languages, idx, d, availability)


def _scores(
    table: OfferTable,
    need: NeedFacts,
    ctx: Context,
    languages: dict[str, int],
    idx: Ints,
    d: F,
    availability: F,
) -> F:
    if need.in_person:
        limit = np.minimum(table.reach[idx], need.max_distance_km or np.inf)
        proximity = np.maximum(0.0, 1.0 - np.floor(d * 2 + 0.5) / 2 / limit)  # round_half_km, as scoring does
    else:
        proximity = np.ones(idx.size)
    if need.requester_id is not None and ctx.history:
        helped = np.array(
            [ctx.history.get((table.offers[i].volunteer_id, need.requester_id), 0) for i in idx]
        )
        continuity = np.minimum(1.0, helped / CONTINUITY_SATURATION)
    else:
        continuity = np.zeros(idx.size)
    if need.languages:
        want = sum(1 << languages[x] for x in need.languages)
        language = np.bitwise_count(table.langs[idx] & want) / len(need.languages)
    else:
        language = np.ones(idx.size)
    waited = max(0.0, (ctx.now - need.created_at).total_seconds() / 3600)
    waiting = min(1.0, waited / WAIT_SATURATION_HOURS)
    total = (
        WEIGHTS["proximity"] * proximity
        + WEIGHTS["availability"] * availability
        + WEIGHTS["continuity"] * continuity
        + WEIGHTS["load"] * table.load[idx]
        + WEIGHTS["language"] * language
        + WEIGHTS["waiting"] * waiting
    )
    rounded: F = np.round(total, 6)
    return rounded


def batch_pairs(
    needs: list[NeedFacts], offers: list[OfferFacts], ctx: Context, *, top_k: int | None = None
) -> BatchPairs:
    empty = BatchPairs(
        np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0, np.int64)
    )
    if not needs or not offers:
        return empty
    # Only the languages needs ask for matter; an offer's others can never decide a filter.
    words = sorted({x for n in needs for x in n.languages})
    if len(words) > 62:
        raise TooManyLanguages(
            "The needs in this run ask for more than 62 languages; narrow it by area or category."
        )
    languages = {w: i for i, w in enumerate(words)}
    table = OfferTable(offers, ctx, languages)
    offer_index = {o.id: i for i, o in enumerate(offers)}
    active_by_need: dict[uuid.UUID, set[int]] = {}
    for need_id, offer_id in ctx.active_pairs:
        if offer_id in offer_index:
            active_by_need.setdefault(need_id, set()).add(offer_index[offer_id])
    busy_by_need: dict[uuid.UUID, set[int]] = {}
    for need_id, volunteer_id in ctx.active_volunteers:
        if volunteer_id in table.volunteer_index:
            busy_by_need.setdefault(need_id, set()).add(table.volunteer_index[volunteer_id])
    near = nearby(table, needs)
    parts_n, parts_o, parts_s, parts_d = [], [], [], []
    for n_i, need in enumerate(needs):
        idx, d, score = _for_need(
            table,
            need,
            ctx,
            languages,
            active_by_need.get(need.id, set()),
            busy_by_need.get(need.id, set()),
            near.get(n_i),
        )
        if top_k is not None and idx.size > top_k:
            best = np.argpartition(-score, top_k - 1)[:top_k]
            idx, d, score = idx[best], d[best], score[best]
        parts_n.append(np.full(idx.size, n_i, dtype=np.int64))
        parts_o.append(idx)
        parts_s.append(score)
        parts_d.append(d)
    offer_idx = np.concatenate(parts_o)
    return BatchPairs(
        np.concatenate(parts_n),
        offer_idx,
        np.concatenate(parts_s),
        np.concatenate(parts_d),
        table.volunteer[offer_idx],
    )
