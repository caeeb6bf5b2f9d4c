"""The rules of matching, each declared once with every form it takes.

A hard filter holds per pair in Python (`filters`: a claim, an acceptance, the last word on a
candidate), over a whole batch as arrays (`arrays`: batch runs), and in SQL (the candidate
pools' pre-filter, `app.dispatch.pools.SQL_FORMS`, named here by key because the engine imports
no database code). A score component has a Python form (`scoring`) and an array form (`batch`).
tests/matching/test_rules.py checks every entry's forms against each other on random data, and
fails for an entry without all its forms or without its test.

Adding a rule: one entry below, its three forms, and its case in that test. The order is
`first_failure`'s: cheapest first, and the reason a claim reports is the first that fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.geo import haversine_km, haversine_km_array
from app.matching import filters, scoring
from app.matching.facts import Context, NeedFacts, OfferFacts

if TYPE_CHECKING:
    from app.matching.arrays import Pairs
    from app.matching.columns import Bools, F

PairTest = Callable[[NeedFacts, OfferFacts, Context], bool]


def _array(name: str) -> Callable[[Pairs], Bools]:
    """The array form `app.matching.arrays.<name>`, imported when first called: the array forms
    need NumPy, which only batch runs use, and every web worker imports this spec (claims and
    candidate searches use the Python forms), so NumPy stays out of their memory until a run.
    tests/matching/test_rules.py calls every rule's array form, so a name without its function
    fails there."""

    def form(pairs: Pairs) -> Bools:
        from app.matching import arrays

        test: Callable[[Pairs], Bools] = getattr(arrays, name)
        return test(pairs)

    form.__name__ = form.__qualname__ = name
    return form


@dataclass(frozen=True)
class Rule:
    name: str  # the reason a refused claim reports (409 `reason`), and the key of its SQL form
    python: PairTest
    array: Callable[[Pairs], Bools]
    # Does the SQL form keep exactly the pairs the Python form does? If not, it keeps a superset
    # (a mask, a margin) and candidate searches settle the rule in Python on the rows SQL returns.
    sql_exact: bool
    # Its array form computes per pair (a distance, an overlap): batch runs apply it to the
    # pairs every cheaper rule kept.
    heavy: bool = False


RULES = (
    Rule("offer_paused", filters.offer_active, _array("offer_active"), sql_exact=True),
    Rule("offer_full", filters.offer_has_room, _array("offer_has_room"), sql_exact=True),
    Rule("own_need", filters.not_own_need, _array("not_own_need"), sql_exact=True),
    Rule("category", filters.category_offered, _array("category_offered"), sql_exact=True),
    Rule("mode", filters.mode_offered, _array("mode_offered"), sql_exact=True),
    # SQL tests a bit per language, and a few rare codes share a bit (app.matching.masks).
    Rule("language", filters.language_shared, _array("language_shared"), sql_exact=False),
    Rule("already_matched", filters.not_joined, _array("not_joined"), sql_exact=True),
    # SQL compares its own haversine with a hair of margin.
    Rule("distance", filters.in_reach, _array("in_reach"), sql_exact=False, heavy=True),
    Rule("requirements", filters.meets_requirements, _array("meets_requirements"), sql_exact=True),
    # SQL tests hours of the UTC week a slot may touch (app.matching.masks).
    Rule("availability", filters.window_fits, _array("window_fits"), sql_exact=False, heavy=True),
    # A suspended member's offers leave every search, and so do the needs they asked for.
    Rule("suspended", filters.not_suspended, _array("not_suspended"), sql_exact=True),
    # An organisation may take only volunteers who verified their address
    # (`require_verified_email`): its needs are neither claimed by nor proposed to the others.
    Rule("email_unverified", filters.email_verified, _array("email_verified"), sql_exact=True),
    # A block between requester and volunteer (app.safety.blocks): last, so a claim refused for
    # another reason is answered as before; a claim or proposal failing it is a 404, never a
    # reason anyone reads (app.matches.service.HIDDEN_PAIR).
    Rule("blocked", filters.not_blocked, _array("not_blocked"), sql_exact=True),
)
# What a candidate search settles in Python on the rows SQL returned.
SETTLED = tuple(rule for rule in RULES if not rule.sql_exact)


def first_failure(need: NeedFacts, offer: OfferFacts, ctx: Context) -> str | None:
    """The name of the first rule the pair fails; None when it is a candidate."""
    for rule in RULES:
        if not rule.python(need, offer, ctx):
            return rule.name
    return None


def eligible(need: NeedFacts, offer: OfferFacts, ctx: Context) -> bool:
    return first_failure(need, offer, ctx) is None


@dataclass(frozen=True)
class Component:
    """A part of the score, in [0, 1], weighted by `scoring.WEIGHTS[name]`: its Python form is
    `scoring.components(...)[name]`, its array form `arrays.score_parts(...)[name]`."""

    name: str

    def python(self, need: NeedFacts, offer: OfferFacts, ctx: Context, d: float | None) -> float:
        return scoring.components(need, offer, ctx, d)[self.name]

    def array(self, pairs: Pairs, helped: F) -> F:
        from app.matching import arrays  # NumPy, when a batch run scores (see `_array`)

        return arrays.score_parts(pairs, helped)[self.name]


COMPONENTS = tuple(Component(name) for name in scoring.WEIGHTS)


@dataclass(frozen=True)
class Haversine:
    """The great-circle distance in its three forms: Python (the definition), arrays, and SQL
    (`app.spatial.haversine_sql`; SQLite runs the Python one as a registered function)."""

    python: Callable[[float, float, float, float], float] = haversine_km
    array: Callable[[F, F, F, F], F] = haversine_km_array
    sql: str = "app.spatial.haversine_sql"


HAVERSINE = Haversine()
