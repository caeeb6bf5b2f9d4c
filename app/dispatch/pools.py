"""The SQL of a candidate search: one statement per kind of need, built once, run with parameters.

SQL walks offers nearest first (KNN over a per-category partial covering index of unit vectors
on Postgres, an index-only scan; an H3 covering on SQLite) and looks at the `walk` (WALK for a
candidate search) nearest active offers of the need's category and mode that reach it. Of
those it keeps the first that pass every other filter: exactly where a column says it all
(capabilities, vetting, pairs already joined), as a superset through bit masks for languages
and weekly slots (app.matching.masks), which Python then settles. Only those are read from the
table. Each row carries the volunteer's name and their completed matches with
the requester, so a pool is one round trip.

Statements are cached by shape (category, mode, dialect, covering resolution, vetting), so
building and compiling them, which costs more than running them, happens once per shape.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from psycopg.types.numeric import Int8
from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Float,
    Select,
    Subquery,
    and_,
    bindparam,
    func,
    literal,
    or_,
)
from sqlalchemy import select as core_select
from sqlmodel import col, exists, literal_column, select

from app.core.timeutil import UTCDateTime, utcnow
from app.geo import ROUNDING_SLACK_KM, covering_cells, resolution_for
from app.matches.models import ACTIVE, Match, MatchStatus
from app.matching.facts import BACKGROUND_CHECKED, NeedFacts, mode_bit
from app.matching.masks import FLEXIBLE, language_mask, need_week
from app.members.models import Member
from app.members.suspension import member_suspended
from app.needs.models import Need
from app.offers.models import Offer, OfferStatus
from app.organizations.models import Membership, Organization
from app.safety import blocks
from app.spatial import WALK_COLUMNS, chord, haversine_sql, sphere_point
from app.vocab import Mode

MAX_REACH_KM = 200.0  # the furthest any offer may reach (OfferCreate.max_distance_km)
# Nearest offers of the need's kind a search looks at, at most: this bounds the index walk for
# needs that few volunteers can meet (a rare language and a narrow window, say).
WALK = 10_000
# Reaches compare the rounded distance (app.geo.within_reach_km), and SQL's haversine may differ
# from Python's in the last bit: SQL keeps everything within reach + this, Python settles it.
REACH_MARGIN_KM = ROUNDING_SLACK_KM + 0.001

# Only what matching reads: no ORM objects and no JSON that masks already encode.
FACTS = (
    "id",
    "volunteer_id",
    "organization_id",
    "categories_mask",
    "modes_mask",
    "approx_lat",
    "approx_lon",
    "max_distance_km",
    "availability",
    "timezone",
    "capacity",
    "active_matches",
    "languages",
    "capabilities_mask",
    "status",
)
_ZERO: ColumnElement[int] = literal_column("0")
_INTEGERS = ("plain", "languages", "week_0", "week_1", "week_2", "size", "walk")


@dataclass(frozen=True)
class Shape:
    category_bit: int
    mode: str
    dialect: str
    resolution: int  # of the H3 covering (SQLite, in person); 0 otherwise
    vetting: bool


def _reach(need: Need) -> float:
    """How far the walk looks: the need's reach (or the longest any offer has), plus the margin."""
    return min(MAX_REACH_KM, need.max_distance_km or MAX_REACH_KM) + REACH_MARGIN_KM


def shape_of(need: Need, facts: NeedFacts, dialect: str) -> Shape:
    sqlite_in_person = facts.in_person and dialect != "postgresql"
    return Shape(
        category_bit=facts.category_bit,
        mode=need.mode,
        dialect=dialect,
        resolution=resolution_for(_reach(need)) if sqlite_in_person else 0,
        vetting=bool(need.requirements_mask & BACKGROUND_CHECKED),
    )


def parameters(
    need: Need,
    facts: NeedFacts,
    shape: Shape,
    size: int,
    walk: int | None = None,
    viewer_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """The statement's parameters: `size` offers that pass every SQL test, among the `walk`
    (default WALK) nearest of the kind, and none blocked with `viewer_id` (a member searching
    who is not the requester; None: nobody else)."""
    week = FLEXIBLE
    if facts.window_start is not None and facts.window_end is not None:
        week = need_week(facts.window_start, facts.window_end)
    values: dict[str, Any] = {
        "need_id": need.id,
        "requester_id": need.requester_id,
        "organization_id": need.organization_id,
        "plain": need.requirements_mask & ~BACKGROUND_CHECKED,
        "any_language": not facts.languages,
        "languages": language_mask(facts.languages),
        **{f"week_{i}": word for i, word in enumerate(week)},
        "size": size,
        "walk": WALK if walk is None else walk,
        "now": utcnow(),  # suspensions lapse by the clock
        "viewer_id": viewer_id if viewer_id != need.requester_id else None,
    }
    if shape.dialect == "postgresql":
        # psycopg types an int by its size, and each set of types is a statement of its own;
        # one type keeps one prepared statement, and one cached plan, per shape.
        values |= {name: Int8(values[name]) for name in _INTEGERS}
    if facts.in_person:
        assert facts.lat is not None
        assert facts.lon is not None
        values |= {"lat": facts.lat, "lon": facts.lon, "reach": _reach(need)}
        if shape.resolution:
            values["cells"] = covering_cells(facts.lat, facts.lon, _reach(need), shape.resolution)
    return values


Columns = Callable[[str], Any]  # a column of the offers being tested, by name


def _has_bit(column: Any, bit: int) -> ColumnElement[bool]:
    out: ColumnElement[bool] = column.op("&")(literal_column(str(bit))) != _ZERO
    return out


def _here() -> tuple[ColumnElement[float], ColumnElement[float]]:
    return bindparam("lat", type_=Float()), bindparam("lon", type_=Float())


def _distance(shape: Shape, c: Columns) -> ColumnElement[float]:
    return haversine_sql(c("approx_lat"), c("approx_lon"), *_here(), shape.dialect)


def _in_reach(shape: Shape, c: Columns) -> ColumnElement[bool] | None:
    if shape.mode != Mode.in_person:
        return None  # remote help is never out of reach
    reach: ColumnElement[bool] = _distance(shape, c) <= c("max_distance_km") + REACH_MARGIN_KM
    return reach  # with a margin: Python's test is exact


def _language_shared(shape: Shape, c: Columns) -> ColumnElement[bool]:
    languages = c("languages_mask").op("&")(bindparam("languages", type_=BigInteger()))
    return or_(bindparam("any_language", type_=Boolean()), languages != 0)


# The active statuses written into the statement (the enum's own values), not bound: an IN of
# bound values is an expanding parameter that SQLAlchemy renders again at every execution.
_ACTIVE = col(Match.status).in_([literal_column(f"'{status.value}'") for status in ACTIVE])


def _not_joined(shape: Shape, c: Columns) -> ColumnElement[bool]:
    """One volunteer fills one slot: none already joined to this need, through any offer."""
    joined = select(Match.volunteer_id).where(col(Match.need_id) == bindparam("need_id"), _ACTIVE)
    out: ColumnElement[bool] = c("volunteer_id").not_in(joined)
    return out


def _meets_requirements(shape: Shape, c: Columns) -> ColumnElement[bool]:
    plain = bindparam("plain", type_=BigInteger())
    met: ColumnElement[bool] = c("capabilities_mask").op("&")(plain) == plain
    if not shape.vetting:
        return met
    vetted = exists().where(  # only the need's own organisation's vetting counts
        col(Membership.member_id) == c("volunteer_id"),
        col(Membership.organization_id) == bindparam("organization_id"),
        col(Membership.vetted),
    )
    return and_(met, vetted)


def _window_fits(shape: Shape, c: Columns) -> ColumnElement[bool]:
    return or_(
        *(
            c(f"availability_mask_{i}").op("&")(bindparam(f"week_{i}", type_=BigInteger())) != 0
            for i in range(3)
        )
    )


def _not_suspended(shape: Shape, c: Columns) -> ColumnElement[bool]:
    now = bindparam("now", type_=UTCDateTime())
    return and_(~member_suspended(c("volunteer_id"), now), ~member_suspended(bindparam("requester_id"), now))


def email_verified(organization_id: Any, volunteer_id: Any) -> ColumnElement[bool]:
    """The `email_unverified` rule in SQL: the need's organisation takes anyone, or the
    volunteer verified their address."""
    verifying = exists().where(
        col(Organization.id) == organization_id, col(Organization.require_verified_email)
    )
    verified = exists().where(col(Member.id) == volunteer_id, col(Member.email_verified_at).is_not(None))
    return or_(~verifying, verified)


@dataclass(frozen=True)
class SqlForm:
    """A rule of app.matching.rules in SQL, for the candidate pools' pre-filter."""

    # Tested during the nearest-first walk over the offers table; else on the rows it yields.
    walk: bool
    # The condition on the named columns, or None when it says nothing for this shape.
    where: Callable[[Shape, Columns], ColumnElement[bool] | None]


# Keyed by rule name; app.matching.rules.RULES names every key, tests/matching/test_rules.py checks
# each against its Python form. Literals, not parameters, where Postgres must match its
# per-category partial index (app.spatial.category_index_sql) under a generic plan.
SQL_FORMS: dict[str, SqlForm] = {
    "offer_paused": SqlForm(True, lambda shape, c: c("status") == literal_column("'active'")),
    "offer_full": SqlForm(True, lambda shape, c: c("active_matches") < c("capacity")),
    "own_need": SqlForm(True, lambda shape, c: c("volunteer_id").is_distinct_from(bindparam("requester_id"))),
    "category": SqlForm(
        True,
        lambda shape, c: c("categories_mask").op("&")(literal_column(str(int(shape.category_bit)))) != _ZERO,
    ),
    "mode": SqlForm(True, lambda shape, c: _has_bit(c("modes_mask"), mode_bit(shape.mode))),
    "language": SqlForm(False, _language_shared),
    "already_matched": SqlForm(False, _not_joined),
    "distance": SqlForm(True, _in_reach),
    "requirements": SqlForm(False, _meets_requirements),
    "availability": SqlForm(False, _window_fits),
    "suspended": SqlForm(False, _not_suspended),
    "email_unverified": SqlForm(
        False, lambda shape, c: email_verified(bindparam("organization_id"), c("volunteer_id"))
    ),
    "blocked": SqlForm(
        False, lambda shape, c: blocks.not_among_blocked_with(c("volunteer_id"), bindparam("requester_id"))
    ),
}


def conditions(shape: Shape, c: Columns, *, walk: bool) -> list[ColumnElement[bool]]:
    """Every rule's SQL form for this stage of the search."""
    found = (form.where(shape, c) for form in SQL_FORMS.values() if form.walk == walk)
    return [condition for condition in found if condition is not None]


def offer_column(name: str) -> Any:
    return col(getattr(Offer, name))


WALK_ORDER = "walk_order_"  # the names of the walk's order columns: walk_order_0, ...


def _nearest(shape: Shape) -> Subquery:
    """The `walk` nearest offers that pass the walk's rules (their kind, their reach), nearest first:
    on Postgres an index-only scan of the category's covering walk index (app.spatial)."""
    where = conditions(shape, offer_column, walk=True)
    order: tuple[Any, ...] = (col(Offer.active_matches), col(Offer.id))
    if shape.mode == Mode.in_person:
        lat, lon = _here()
        if shape.dialect == "postgresql":
            # Never wider than the furthest any active offer reaches: the index walk ends there.
            longest = select(func.max(Offer.max_distance_km)).where(col(Offer.status) == OfferStatus.active)
            here, there = sphere_point(lat, lon), sphere_point(Offer.approx_lat, Offer.approx_lon)
            radius_km = func.least(
                bindparam("reach", type_=Float()), longest.scalar_subquery() + REACH_MARGIN_KM
            )
            # A box around the chord's ball, with the margin ST_DWithin had (a superset: the reach
            # test is exact).
            margin = radius_km * literal(1.01, Float()) + literal(0.1, Float())
            box = func.cube_enlarge(here, chord(margin), literal_column("3"))
            where.append(there.op("<@")(box))
            # The KNN index yields rows in `<->` order only when that is the whole ORDER BY.
            order = (there.op("<->")(here),)
        else:
            cells = col(getattr(Offer, f"h3_r{shape.resolution}"))
            where.append(cells.in_(bindparam("cells", expanding=True)))
            order = (_distance(shape, offer_column), col(Offer.id))
    columns = [col(getattr(Offer, name)) for name in WALK_COLUMNS]
    # The walk's order as columns of its own, so the pool can keep it (below).
    keys = [expression.label(f"{WALK_ORDER}{i}") for i, expression in enumerate(order)]
    walk = core_select(*columns, *keys).where(*where).order_by(*order).limit(bindparam("walk"))
    return walk.subquery("nearest")


def _walk_order(near: Subquery) -> list[ColumnElement[Any]]:
    return [c for c in near.c if c.name.startswith(WALK_ORDER)]


def _personal(shape: Shape, near: Subquery) -> list[ColumnElement[bool]]:
    """The need's own rules, on the offers the walk yields; and no volunteer blocked either way
    with whoever searches, when that is not the requester (the `blocked` rule's side): one of
    the organisation's other coordinators, say. Two members either of whom blocked the other
    never meet, in a list of candidates neither. `viewer_id` NULL: nobody else (the set is empty)."""
    unseen = blocks.not_among_blocked_with(near.c.volunteer_id, bindparam("viewer_id"))
    return [*conditions(shape, lambda name: near.c[name], walk=False), unseen]


@lru_cache(maxsize=256)
def statement(shape: Shape) -> Select[Any]:
    """The first `size` offers the walk yields that pass every SQL test, with their facts (read
    from the table for these rows only), the volunteer's name, and the completed matches they
    share with the requester (read once, not once per row)."""
    near = _nearest(shape)
    # In the walk's order, said rather than assumed: the search's stopping rule needs the pool to
    # be the first `size` offers of the walk that pass (every offer past it at least as far), and
    # a join the planner chose for a personal rule could otherwise hand rows over in another
    # order. Where they come out of the walk in order already, Postgres sorts nothing.
    pool = (
        core_select(near.c.id)
        .where(*_personal(shape, near))
        .order_by(*_walk_order(near))
        .limit(bindparam("size"))
        .subquery("pool")
    )
    volunteer = select(Member.display_name).where(col(Member.id) == col(Offer.volunteer_id))
    columns = [offer_column(name) for name in FACTS]
    history = (
        select(col(Match.volunteer_id).label("volunteer_id"), func.count().label("helped"))
        .where(col(Match.requester_id) == bindparam("requester_id"))
        .where(col(Match.status) == MatchStatus.completed)
        .group_by(col(Match.volunteer_id))
        .subquery("history")
    )
    # The most any one volunteer helped the requester: what bounds continuity past the pool.
    most_helped = select(func.max(history.c.helped)).correlate(None).scalar_subquery()
    name = volunteer.scalar_subquery().label("display_name")
    return (
        core_select(*columns, name, history.c.helped, most_helped.label("most_helped"))
        .select_from(pool)
        .join(Offer, col(Offer.id) == pool.c.id)
        .outerjoin(history, history.c.volunteer_id == col(Offer.volunteer_id))
    )
