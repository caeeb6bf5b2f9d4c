"""Eligible pairs and their scores for a whole batch, as array operations over every pair at once.

The same rules and score as `rules.first_failure` and `scoring.score`, in their array forms
(`arrays`). In-person pairs are found per category: the category's offers in k-d trees of unit
vectors, one per reach class (and language mask, where offers have few), each joined to a tree of
the category's needs that could share a language with them (a tree-to-tree search that yields
arrays, not a Python list per need). Its chords give the pairs' rounded distances. Each rule is
then one operation over all pairs, cheapest first, so every heavy step sees fewer, and so is
each part of the score. A test checks that this and the one-pair functions agree on random
worlds with several timezones.

`top_k` keeps each need's k best-scoring pairs (the assignment is then optimal over that
candidate graph); None keeps every eligible pair.
"""

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from app.geo import ROUNDING_SLACK_KM, chord_of_km
from app.matching.arrays import IN_PERSON, Pairs, ceilings, score_parts, speaks_for
from app.matching.columns import F, Ints, NeedColumns, OfferColumns
from app.matching.facts import REMOTE, Context, NeedFacts, OfferFacts
from app.matching.lookups import Lookups
from app.matching.masks import TooManyLanguages
from app.matching.rules import RULES
from app.matching.scoring import WEIGHTS
from app.vocab import Category, mask

if TYPE_CHECKING:
    from scipy.spatial import cKDTree

# Needs whose pairs are found and tested together: few enough that a block's arrays stay in the
# processor's caches (one pass over millions of pairs at once was twice as slow), enough that the
# Python around each array operation is small beside it. Since needs are searched in rings, 512
# does better than 256 (pairs + scores in the bench city, alternating: 396-463 against 431-567 ms
# wall; 128: 481-504; 1,024 alike within noise but ~50 MB more at peak; 512: ~35 MB more than 256).
BLOCK = 512
CATEGORY_BITS = [mask([c], Category) for c in Category]
_POINTS = 1_000_000
_BANDS = 512  # score bands a need's pairs are counted in before its best are sorted
_MIX_NEED, _MIX_OFFER = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F)
# Offers of a block are split by their language masks when they have at most this many.
LANGUAGE_GROUPS = 8
REACH_CLASSES = np.array([1.0, 2.0, 3.0, 5.0, 8.0, 10.0, 15.0, 25.0, 50.0, 100.0, 200.0])
# Where each need keeps only its k best, a block's in-person pairs are searched for, tested and
# scored a ring at a time: within the first radius, then out to the next, then the rest. Whole
# kilometres, far from the boundaries of the 0.5 km rounding (x.25, x.75), so a pair beyond a
# ring's chord is at least that many kilometres away as the score rounds it. One ring of 4 km:
# in the bench city more rings tested fewer pairs but cost more in searches than they saved
# (pairs + scores, wall: 4 km 407-440 ms, 5 and 6 km alike, 2 then 6 km 441-445, 2, 4 then
# 8 km 499-578, 1 to 16 km doubling 595-603; none 488-510).
RINGS_KM: tuple[float, ...] = (4.0,)


@dataclass(frozen=True)
class BatchPairs:
    need: Ints  # index into the needs list
    offer: Ints  # index into the offers list
    score: F
    distance_km: F  # NaN for remote help
    volunteer: Ints  # the offer's volunteer, as an index: one volunteer fills one slot of a need


def unit_vectors(lat: F, lon: F) -> F:
    """Points in degrees as unit vectors (n x 3): the k-d trees' space, where the distance
    between two points is the chord `geo.chord_of_km` and `geo.round_half_km_from_chord` read."""
    p, la = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(p) * np.cos(la), np.cos(p) * np.sin(la), np.sin(p)], axis=1)


def _chord(km: float) -> float:
    """A chord a hair longer than the arc, so the exact haversine filter has the last word."""
    return float(chord_of_km(np.array(km)))


def _offers_of(offers: OfferColumns, bit: int, mode: int) -> Ints:
    return np.flatnonzero(offers.free & (offers.categories & bit != 0) & (offers.modes & mode != 0))


@dataclass(frozen=True)
class _Group:
    """Offers a block's needs are joined with at once."""

    members: Ints
    tree: "cKDTree | None"  # of their points, for in-person help
    chord: float  # the tree is searched within it: the longest reach among them
    one_reach: bool  # every member reaches exactly that far, so none can be out of reach within it
    languages: int | None  # the language mask every member has, where the group is split by it


@dataclass(frozen=True)
class _Block:
    """Some needs of one category, with the offers that could serve them."""

    needs: Ints
    in_person: bool
    offers: list[_Group]


def _by_languages(offers: OfferColumns, members: Ints) -> list[tuple[Ints, int | None]]:
    """`members` split by their language masks when they have few distinct ones (most offers
    speak one or two of a neighbourhood's few languages), so a need asking for a language meets
    only the groups that speak it; else one group."""
    masks = offers.languages[members]
    distinct = np.unique(masks)
    if distinct.size > LANGUAGE_GROUPS:
        return [(members, None)]
    return [(members[masks == m], int(m)) for m in distinct]


def _blocks(needs: NeedColumns, offers: OfferColumns) -> list[_Block]:
    """Needs by category and mode, BLOCK at a time; in person, the category's offers in one
    tree per reach class, so a need is measured only against offers that might reach it; both
    split by the offers' languages (`_by_languages`)."""
    # SciPy here, not at import: ~30 MB in every server process, for batch runs only.
    from scipy.spatial import cKDTree

    out = []
    xyz = unit_vectors(offers.lat, offers.lon)
    located = needs.in_person & ~np.isnan(needs.lat)
    for bit in CATEGORY_BITS:
        near, group = np.flatnonzero(located & (needs.category == bit)), _offers_of(offers, bit, IN_PERSON)
        if near.size and group.size:
            classes = np.searchsorted(REACH_CLASSES, offers.reach[group])
            trees = []
            for c in np.unique(classes):
                for members, languages in _by_languages(offers, group[classes == c]):
                    reaches = offers.reach[members]
                    longest = float(reaches.max())
                    chord = _chord(longest + ROUNDING_SLACK_KM)  # reaches compare rounded
                    one_reach = bool((reaches == longest).all())
                    trees.append(_Group(members, cKDTree(xyz[members]), chord, one_reach, languages))
            out += [_Block(near[i : i + BLOCK], True, trees) for i in range(0, near.size, BLOCK)]
        far, group = (
            np.flatnonzero(~needs.in_person & (needs.category == bit)),
            _offers_of(offers, bit, REMOTE),
        )
        if far.size and group.size:
            groups = [_Group(m, None, 0.0, True, languages) for m, languages in _by_languages(offers, group)]
            out += [_Block(far[i : i + BLOCK], False, groups) for i in range(0, far.size, BLOCK)]
    return out


# Every rule of `rules.RULES`, the cheap ones first, then the heavy ones, each on what the
# previous kept: the window check before the haversine, as it is the cheaper of the two and, in the
# cities measured (bench.batch), leaves a fraction of the pairs. The result is their conjunction
# whatever the order; only the work differs.
# Left out: the rules `_offers_of` settles for every pair a block holds (`free` is an active
# offer with room; category and mode pick the block), which every pair passes by construction.
_HEAVY_FIRST = ("availability", "distance")
SETTLED_BY_BLOCKS = frozenset({"offer_paused", "offer_full", "category", "mode"})
_BATCH_ORDER = tuple(
    sorted(
        (r for r in RULES if r.name not in SETTLED_BY_BLOCKS),
        key=lambda r: (r.heavy, _HEAVY_FIRST.index(r.name) if r.heavy else 0),
    )
)
SETTLED_BY_LANGUAGE_GROUPS = frozenset({"language"})
_SPLIT_ORDER = tuple(r for r in _BATCH_ORDER if r.name not in SETTLED_BY_LANGUAGE_GROUPS)


@dataclass(frozen=True)
class _Run:
    needs: NeedColumns
    offers: OfferColumns
    lookups: Lookups
    top_k: int | None
    # Each offer's and each need's reach as a chord of the unit sphere (`geo.chord_of_km`, with the
    # slack of rounded distances; 2, the diameter, where a need sets none).
    offer_chords: F
    need_chords: F
    ring_chords: F  # of RINGS_KM

    def pairs(
        self, block: _Block, needs: Ints, beyond: float = -1.0, within: float = 2.0
    ) -> tuple[Ints, Ints, F]:
        """The pairs of `needs`, some of the block's, with its offers, and their chord for
        in-person help: those whose chord is more than `beyond` and at most `within` (a ring of
        the search; the defaults take every pair). A need asking for languages meets only the
        groups that speak one of them, which settles the `language` rule where every group has
        one mask (`evaluate` then skips it)."""
        from scipy.spatial import cKDTree  # imported by _blocks already: a dictionary look-up

        found_n, found_o, found_c = [], [], []
        wanted = self.needs.languages[needs]
        points = unit_vectors(self.needs.lat[needs], self.needs.lon[needs]) if block.in_person else None
        for group in block.offers:
            chosen = needs
            if group.languages is not None:
                speaks = speaks_for(wanted, group.languages)
                chosen = needs[speaks]
                if not chosen.size:
                    continue
            if group.tree is None:  # remote help: every need with every offer
                found_n.append(np.repeat(chosen, group.members.size))
                found_o.append(np.tile(group.members, chosen.size))
                found_c.append(np.full(chosen.size * group.members.size, np.nan))
                continue
            if min(group.chord, within) <= beyond:  # every pair of this group was in an earlier ring
                continue
            # A ring is cut on the chord the search reports: the tree keeps a pair when its squared
            # chord is at most the radius squared, and one squared chord just above that still has
            # the radius as its square root. So a ring's search reaches a hair further and keeps
            # the pairs whose reported chord is at most its edge; the next keeps those above it.
            cut = within < group.chord
            radius = min(group.chord, within * (1 + 1e-9)) if cut else group.chord
            assert points is not None
            need_tree = cKDTree(points if group.languages is None else points[speaks])
            hits = need_tree.sparse_distance_matrix(group.tree, radius, output_type="ndarray")
            n, o, c = chosen[hits["i"]], group.members[hits["j"]], hits["v"]
            near = c > beyond if beyond >= 0 else None
            if cut:
                near = c <= within if near is None else near & (c <= within)
            # Within both reaches by chord, a hair long (the exact rule decides later): needed
            # only where an offer's reach or a need's is shorter than the search's chord.
            if not group.one_reach or float(self.need_chords[chosen].min()) < radius:
                reached = (c <= self.offer_chords[o]) & (c <= self.need_chords[n])
                near = reached if near is None else near & reached
            if near is not None:
                n, o, c = n[near], o[near], c[near]
            found_n.append(n)
            found_o.append(o)
            found_c.append(c)
        if not found_n:
            empty = np.zeros(0, np.int64)
            return empty, empty, np.zeros(0)
        return np.concatenate(found_n), np.concatenate(found_o), np.concatenate(found_c)

    def evaluate(self, block: _Block) -> tuple[Ints, Ints, F, F]:
        """A block's eligible pairs (need, offer, distance, score), each need's top k if asked."""
        if self.top_k is not None and self.top_k > 0 and block.in_person:
            n, o, score = self._ring_by_ring(block, self.top_k)
            pairs = Pairs(self.needs, self.offers, self.lookups, n, o)
        else:
            pairs, score = self._eligible(block, *self.pairs(block, block.needs))
            if self.top_k is not None:
                best = _best(block.needs, pairs.n, pairs.o, score, self.top_k)
                pairs, score = pairs.where(best), score[best]
        # The exact distance only for the pairs kept: the rules and the score read it rounded.
        return pairs.n, pairs.o, pairs.distance_km, score

    def _eligible(self, block: _Block, n: Ints, o: Ints, chord: F) -> tuple[Pairs, F]:
        """Which of these pairs of the block are eligible, and their scores.

        Every rule of `rules.RULES` in its array form, cheap ones at once, heavy ones on what
        the cheaper kept; blocks and trees only spare the rules pairs that cannot pass."""
        pairs = Pairs(self.needs, self.offers, self.lookups, n, o).with_chords(chord)
        keep = np.ones(n.size, dtype=bool)
        # Where every offer group has one language mask, the join met each need only with groups
        # that share one of its languages (or with all, when it asks for none): settled.
        split = all(group.languages is not None for group in block.offers)
        for rule in _BATCH_ORDER if not split else _SPLIT_ORDER:
            if rule.heavy:
                pairs, keep = pairs.where(keep), np.ones(int(keep.sum()), dtype=bool)
            keep &= rule.array(pairs)
        pairs = pairs.where(keep)
        return pairs, _scores(pairs, self.lookups.helped(pairs.n, pairs.volunteer))

    def _ring_by_ring(self, block: _Block, k: int) -> tuple[Ints, Ints, F]:
        """Each need's k best pairs (need, offer, score) among the block's in-person pairs, as
        `_best` of all of them would pick, found and tested ring by ring outwards (`RINGS_KM`).

        After each ring, a need is settled when it has k pairs and the k-th of them scores more
        than any pair further out could (`arrays.ceilings`; strictly, as an equal score could
        still win its tie). Its pairs further out are then never searched for nor tested: the k
        best of those seen are its k best of all. The others are searched on, out to the longest
        reach. (In the bench city, with k = 25, 46% of the in-person needs settle within 4 km.)"""
        needs = block.needs
        at, first = _places(needs)
        waiting, most_helped = self.needs.waiting[needs], self.lookups.most_helped[needs]
        kept_n, kept_o, kept_score = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        open_needs, beyond = needs, -1.0
        for i in range(len(RINGS_KM) + 1):
            last = i == len(RINGS_KM)
            within = 2.0 if last else float(self.ring_chords[i])
            n, o, chord = self.pairs(block, open_needs, beyond, within)
            if n.size:
                pairs, score = self._eligible(block, n, o, chord)
                kept_n, kept_o = np.concatenate([kept_n, pairs.n]), np.concatenate([kept_o, pairs.o])
                kept_score = np.concatenate([kept_score, score])
                best = _best(needs, kept_n, kept_o, kept_score, k)
                kept_n, kept_o, kept_score = kept_n[best], kept_o[best], kept_score[best]
            if last:
                break
            # `_best` gives each need's pairs together, best first: its k-th is its last.
            counts = np.bincount(at[kept_n - first], minlength=needs.size)
            full = np.flatnonzero(counts == k)
            kth = np.full(needs.size, -np.inf)
            kth[full] = kept_score[np.cumsum(counts)[full] - 1]
            settled = kth > ceilings(waiting, most_helped, RINGS_KM[i])
            open_needs, beyond = needs[~settled], within
            if not open_needs.size:
                break
        return kept_n, kept_o, kept_score


def _scores(pairs: Pairs, helped: F) -> F:
    """The weighted sum of `rules.COMPONENTS` for every pair, rounded as `scoring.total` rounds."""
    parts = score_parts(pairs, helped)
    total = sum(WEIGHTS[name] * parts[name] for name in WEIGHTS)
    rounded: F = np.round(total, 6)  # the steps of `scoring.round_score`
    return rounded


def _places(needs: Ints) -> tuple[Ints, int]:
    """A look-up of each of a block's (sorted) needs' place among them: `at[n - first]`."""
    first = int(needs[0])
    at = np.empty(int(needs[-1]) - first + 1, dtype=np.int64)
    at[needs - first] = np.arange(needs.size)
    return at, first


def _best(needs: Ints, n: Ints, o: Ints, score: F, k: int) -> Ints:
    """Positions of each need's k best pairs, `needs` being the block's (sorted) needs, in the
    order of the need's place, then the score, best first.

    One sort of one integer key: the need, then the score, best first, then a hash of the pair,
    so that ties (common: scores step with the rounded distance) spread over many offers rather
    than all landing on the same few, which the assignment would then have to share. Only the
    pairs that can be among their need's k best are sorted: a count of each need's pairs by
    score band finds the lowest band that still holds its k best, and pairs below it (most of
    them) cannot be."""
    points = np.rint(score * 1e6).astype(np.int64)  # scores are rounded to 6 decimals
    at, first = _places(needs)
    local = at[n - first]
    band = np.clip(points, 0, _POINTS) * _BANDS // (_POINTS + 1)
    counts = np.bincount(local * _BANDS + band, minlength=needs.size * _BANDS).reshape(needs.size, _BANDS)
    at_or_above = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1]  # pairs in each band or a better one
    lowest = np.maximum((at_or_above >= k).sum(axis=1) - 1, 0)
    maybe = np.flatnonzero(band >= lowest[local])
    n, o, points, local = n[maybe], o[maybe], points[maybe], local[maybe]
    spread = ((n.astype(np.uint64) * _MIX_NEED) ^ (o.astype(np.uint64) * _MIX_OFFER)) >> np.uint64(44)
    key = (local * (_POINTS + 1) + (_POINTS - points)) * (1 << 20) + spread.astype(np.int64)
    order = np.argsort(key)
    ranked = key[order]
    if ranked.size and (ranked[1:] == ranked[:-1]).any():
        # Two offers share the hash's 20 bits and the score (one pair in hundreds of thousands
        # where a run has over 400,000 offers): by offer, so that the k best are the same pairs
        # whatever order they came in (a ring at a time or all at once).
        order = np.lexsort((o, key))
    # Where each need's run of pairs starts in that order: its place = position - start.
    starts = np.concatenate([[0], np.cumsum(np.bincount(local, minlength=needs.size))[:-1]])
    out: Ints = maybe[order[np.arange(order.size) - starts[local[order]] < k]]
    return out


def words_of(needs: list[NeedFacts]) -> dict[str, int]:
    """The run's own language list: only what its needs ask for can decide a filter."""
    words = sorted({x for need in needs for x in need.languages})
    if len(words) > 62:
        raise TooManyLanguages(
            "The needs in this run ask for more than 62 languages; narrow it by area or category."
        )
    return {w: i for i, w in enumerate(words)}


def _run(
    needs: list[NeedFacts], oc: OfferColumns, ctx: Context, words: dict[str, int], top_k: int | None
) -> _Run:
    """A run's columns, look-ups and chords, ready for its blocks."""
    nc = NeedColumns.of(needs, oc, ctx, words)
    lookups = Lookups.of(needs, nc, oc, ctx)
    chords = chord_of_km(oc.reach + ROUNDING_SLACK_KM), chord_of_km(nc.limit + ROUNDING_SLACK_KM)
    return _Run(nc, oc, lookups, top_k, *chords, chord_of_km(np.array(RINGS_KM)))


def batch_pairs(
    needs: list[NeedFacts], offers: list[OfferFacts] | OfferColumns, ctx: Context, *, top_k: int | None = None
) -> BatchPairs:
    """`offers` as facts, or as columns already read with this run's `words_of(needs)`."""
    empty = np.zeros(0, np.int64)
    words = words_of(needs)
    oc = offers if isinstance(offers, OfferColumns) else OfferColumns.of(offers, words)
    if oc.words != words:
        raise ValueError("offer columns were read for another run's languages")
    if not needs or not oc.ids:
        return BatchPairs(empty, empty, np.zeros(0), np.zeros(0), empty)
    run = _run(needs, oc, ctx, words, top_k)
    # numpy and the k-d trees let go of the GIL for the heavy part of each step, so blocks run
    # side by side on every core.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        found = list(pool.map(run.evaluate, _blocks(run.needs, oc)))
    if not found:
        return BatchPairs(empty, empty, np.zeros(0), np.zeros(0), empty)
    n, o, d, score = (np.concatenate(column) for column in zip(*found, strict=True))
    return BatchPairs(n, o, score, d, oc.volunteer[o])
