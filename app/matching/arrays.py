"""Each hard filter as one array operation over a batch's pairs, as app.matching.rules names them.

A pair set holds a batch's columns and the positions of its pairs; the distance and the minutes
of overlap, which both a filter and the score read, are computed once, on the pairs the cheaper
filters kept, and carried along as the set narrows.
"""

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.geo import haversine_km_array, round_half_km_array, round_half_km_from_chord
from app.matching.columns import Bools, F, Ints, NeedColumns, OfferColumns, overlap
from app.matching.facts import REMOTE
from app.matching.lookups import Lookups
from app.matching.scoring import AT_MOST, CONTINUITY_SATURATION, PROXIMITY_SCALE_KM, WEIGHTS, proximity
from app.vocab import Mode, mask

IN_PERSON = mask([Mode.in_person], Mode)


@dataclass(frozen=True)
class Pairs:
    needs: NeedColumns
    offers: OfferColumns
    lookups: Lookups
    n: Ints  # index into the needs
    o: Ints  # index into the offers
    _cache: dict[str, NDArray[Any]] = field(default_factory=dict, compare=False, repr=False)

    def where(self, keep: Bools | Ints) -> "Pairs":
        """The pairs `keep` marks (a mask, or positions), with what was computed for them."""
        at = np.flatnonzero(keep) if keep.dtype == np.bool_ else keep  # one scan of the mask
        cache = {name: values[at] for name, values in self._cache.items()}
        return replace(self, n=self.n[at], o=self.o[at], _cache=cache)

    @property
    def volunteer(self) -> Ints:
        if "volunteer" not in self._cache:
            self._cache["volunteer"] = self.offers.volunteer[self.o]
        out: Ints = self._cache["volunteer"]
        return out

    @property
    def distance_km(self) -> F:
        """Between the coarse points for in-person help (`filters.distance_km`); NaN otherwise."""
        if "distance_km" not in self._cache:
            nc, oc, n, o = self.needs, self.offers, self.n, self.o
            d = np.full(n.size, np.nan)
            placed = np.flatnonzero(nc.in_person[n])
            if placed.size:
                pn, po = n[placed], o[placed]
                d[placed] = haversine_km_array(nc.lat[pn], nc.lon[pn], oc.lat[po], oc.lon[po])
            self._cache["distance_km"] = d
        out: F = self._cache["distance_km"]
        return out

    @property
    def rounded_km(self) -> F:
        """`distance_km` rounded to 0.5 km (`geo.round_half_km`), which the reach rule and the
        proximity score read. From the pairs' chords when the search that found them measured
        them (`with_chords`), so the haversine is computed only where a chord's arc lies at a
        rounding boundary (`geo.round_half_km_from_chord`): the same values either way."""
        if "rounded_km" not in self._cache:
            if "chord" in self._cache:

                def exact(at: NDArray[np.intp]) -> F:
                    n, o = self.n[at], self.o[at]
                    return haversine_km_array(
                        self.needs.lat[n], self.needs.lon[n], self.offers.lat[o], self.offers.lon[o]
                    )

                rounded = round_half_km_from_chord(self._cache["chord"], exact)
            else:
                rounded = round_half_km_array(self.distance_km)
            self._cache["rounded_km"] = rounded
        out: F = self._cache["rounded_km"]
        return out

    def with_chords(self, chord: F) -> "Pairs":
        """These pairs with the Euclidean distance between their points' unit vectors, as a k-d
        tree search measured it (NaN for remote help), carried along as the set narrows."""
        return replace(self, _cache={**self._cache, "chord": chord})

    @property
    def timed(self) -> Bools:
        """Pairs whose need has a window and whose offer names slots."""
        if "timed" not in self._cache:
            self._cache["timed"] = self.needs.windowed[self.n] & self.offers.has_slots[self.o]
        out: Bools = self._cache["timed"]
        return out

    @property
    def minutes(self) -> NDArray[np.int32]:
        """Minutes of each timed pair's window inside the offer's slots (0 for the others)."""
        if "minutes" not in self._cache:
            minutes = np.zeros(self.n.size, dtype=np.int32)
            timed = np.flatnonzero(self.timed)
            if timed.size:
                minutes[timed] = overlap(self.needs, self.offers, self.n[timed], self.o[timed])
            self._cache["minutes"] = minutes
        found: NDArray[np.int32] = self._cache["minutes"]
        return found


def offer_active(p: Pairs) -> Bools:
    out: Bools = p.offers.active[p.o]
    return out


def offer_has_room(p: Pairs) -> Bools:
    out: Bools = p.offers.room[p.o]
    return out


def not_own_need(p: Pairs) -> Bools:
    out: Bools = p.volunteer != p.needs.requester[p.n]
    return out


def category_offered(p: Pairs) -> Bools:
    out: Bools = p.offers.categories[p.o] & p.needs.category[p.n] != 0
    return out


def mode_offered(p: Pairs) -> Bools:
    wanted = np.where(p.needs.in_person[p.n], IN_PERSON, REMOTE)
    out: Bools = p.offers.modes[p.o] & wanted != 0
    return out


def speaks_for(wanted: Ints, spoken: Ints | int) -> Bools:
    """The language rule on masks (`filters.language_shared`): the need asks for no language, or
    the offer speaks one it asks for. Also how a batch's join picks the needs for an offer group
    of one language mask (`batch`)."""
    out: Bools = (wanted == 0) | (spoken & wanted != 0)
    return out


def language_shared(p: Pairs) -> Bools:
    return speaks_for(p.needs.languages[p.n], p.offers.languages[p.o])


def not_joined(p: Pairs) -> Bools:
    return p.lookups.not_joined(p.n, p.o, p.volunteer)


def in_reach(p: Pairs) -> Bools:
    """Remote help is never out of reach; in-person help without a point always is. Reaches are
    compared with the rounded distance, as `filters.reaches` compares them."""
    d = p.rounded_km
    reach = (d <= p.offers.reach[p.o]) & (d <= p.needs.limit[p.n])
    out: Bools = ~p.needs.in_person[p.n] | reach
    return out


def meets_requirements(p: Pairs) -> Bools:
    plain = p.needs.plain[p.n]
    out: Bools = p.offers.capabilities[p.o] & plain == plain
    vetting = p.needs.vetting[p.n]
    if vetting.any():  # only the need's own organisation's vetting counts
        out &= ~vetting | p.lookups.vetted_for(p.n, p.volunteer)
    return out


def window_fits(p: Pairs) -> Bools:
    out: Bools = ~p.timed | (p.minutes > 0)
    return out


def not_suspended(p: Pairs) -> Bools:
    out: Bools = ~p.lookups.suspended_volunteer[p.volunteer] & ~p.lookups.suspended_requester[p.n]
    return out


def email_verified(p: Pairs) -> Bools:
    out: Bools = ~p.lookups.verifying_need[p.n] | p.lookups.verified_volunteer[p.volunteer]
    return out


def not_blocked(p: Pairs) -> Bools:
    return p.lookups.not_blocked(p.n, p.volunteer)


def availability_score(p: Pairs) -> F:
    """The availability part of each pair's score (`scoring._availability`): a flexible offer
    promises nothing (0.5), a need without a window is met by anyone (1.0)."""
    nc = p.needs
    out: F = np.where(nc.windowed[p.n], 0.5, 1.0)
    timed = np.flatnonzero(p.timed)
    if timed.size:
        length = nc.length[p.n[timed], p.offers.timezone[p.o[timed]]]
        out[timed] = np.minimum(1.0, p.minutes[timed] / np.maximum(1, length))
    return out


def score_parts(p: Pairs, helped: F) -> dict[str, F]:
    """Each component of the score for every pair (`scoring.components`), unrounded; `helped`
    counts the completed matches between each pair's volunteer and requester."""
    needs, offers, n, o, d = p.needs, p.offers, p.n, p.o, p.rounded_km
    # `scoring.proximity`: from the distance rounded to 0.5 km; remote help is as near as can be.
    proximity = np.where(np.isnan(d), 1.0, 1.0 / (1.0 + d / PROXIMITY_SCALE_KM))
    count = needs.language_count[n]
    shared = np.bitwise_count(offers.languages[o] & needs.languages[n])
    return {
        "proximity": proximity,
        "availability": availability_score(p),
        "continuity": np.minimum(1.0, helped / CONTINUITY_SATURATION),
        "load": offers.load[o],
        "language": np.where(count == 0, 1.0, shared / np.maximum(count, 1)),
        "waiting": needs.waiting[n],
    }


def ceilings(waiting: F, most_helped: F, km: float) -> F:
    """`scoring.ceiling` for many needs at once: the highest score any eligible offer `km` or
    more away could have for each need, from its waiting part (`NeedColumns.waiting`) and the
    most completed matches its requester shares with any one volunteer. The same sum in the same
    order, rounded the same way, so no pair's score (`score_parts`, weighted) can exceed it."""
    at_most = {name: np.full(waiting.size, value) for name, value in AT_MOST.items()}
    parts: dict[str, F] = {
        "proximity": np.full(waiting.size, proximity(km)),
        "continuity": np.minimum(1.0, most_helped / CONTINUITY_SATURATION),
        "waiting": waiting,
        **at_most,
    }
    top: F = sum((WEIGHTS[name] * parts[name] for name in WEIGHTS), np.zeros(waiting.size))
    out: F = np.round(top, 6)
    return out
