"""Candidates for a need and opportunities for an offer: SQL narrows, app.matching decides.

Candidates: app.dispatch.pools walks offers nearest first and applies every filter it can, in
one round trip in the usual case; Python then settles the mask filters and the reach exactly,
and the score ranks what is left. Every distance is between coarse points, so nothing anyone
reads depends on where inside its cell a volunteer is.
"""

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Float, exists, func, literal, or_, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.timeutil import utcnow
from app.dispatch import loading, pools
from app.geo import covering_cells, resolution_for
from app.matches.models import ACTIVE, Match
from app.matching import scoring
from app.matching.facts import BACKGROUND_CHECKED, Context, NeedFacts, OfferFacts
from app.matching.filters import distance_km
from app.matching.rules import SETTLED, eligible
from app.matching.scoring import Scored, score
from app.needs.models import Need, NeedStatus, Visibility, closes_at_sql
from app.offers.models import Offer
from app.safety import blocks
from app.spatial import geog, haversine_sql
from app.vocab import Mode

# Offers that pass every SQL test scored at first for a need with a window (the limit, when that
# is more; without a window, the limit), and at most once it has `limit` candidates: a search
# without a window grows its pool to MAX_POOL while an offer further away could still outscore
# its last candidate; any search doubles its pool while it has fewer than `limit` candidates
# (docs/matching.md, "When the search stops"; docs/benchmarks.md).
POOL = 30
MAX_POOL = 30
OPPORTUNITIES_LOOKED_AT = 300


@dataclass(frozen=True)
class Ranked:
    row: Any
    scored: Scored


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def _near(
    model: Any, lat: float, lon: float, reach_km: float, dialect: str
) -> tuple[ColumnElement[bool], Any]:
    """(index-assisted prefilter, nearest-first ordering) around a coarse point."""
    if dialect == "postgresql":
        here = geog(literal(lon, Float()), literal(lat, Float()))
        there = geog(model.approx_lon, model.approx_lat)
        return func.ST_DWithin(there, here, reach_km * 1000 * 1.01 + 100), there.op("<->")(here)
    res = resolution_for(reach_km)
    cells = covering_cells(lat, lon, reach_km, res)
    return col(getattr(model, f"h3_r{res}")).in_(cells), haversine_sql(
        model.approx_lat, model.approx_lon, lat, lon, dialect
    )


def _no_active_pair(need_id: Any, offer_id: Any, volunteer_id: Any) -> ColumnElement[bool]:
    return ~exists().where(
        or_(col(Match.offer_id) == offer_id, col(Match.volunteer_id) == volunteer_id),
        col(Match.need_id) == need_id,
        col(Match.status).in_(ACTIVE),
    )


def settled(need: NeedFacts, offer: OfferFacts, ctx: Context) -> bool:
    """The rules SQL tests only as supersets (a mask, a margin), exactly."""
    return all(rule.python(need, offer, ctx) for rule in SETTLED)


@dataclass(frozen=True)
class Pool:
    """A pool settled and scored: the best `limit`, and what bounds the offers past it."""

    ranked: list[Ranked]
    farthest_km: float | None  # the trip to the last offer the pool holds (None: remote help)
    most_helped: int  # the requester's completed matches with any one volunteer, at most


def _best(need: NeedFacts, rows: list[Any], limit: int) -> Pool:
    """Settle and score a pool; only the best `limit` get a rounded breakdown."""
    ctx = Context(now=utcnow())
    if need.requester_id is not None:
        ctx.history = {(r.volunteer_id, need.requester_id): r.helped for r in rows if r.helped}
    kept, farthest = [], None
    for row in rows:
        offer = loading.offer_facts(row, row.display_name)
        d = distance_km(need, offer)
        if d is not None:
            farthest = d if farthest is None else max(farthest, d)
        if settled(need, offer, ctx):
            parts = scoring.components(need, offer, ctx, d)
            kept.append((-scoring.total(parts), offer.id, offer, parts, d))
    kept.sort(key=lambda k: (k[0], k[1]))
    ranked = [Ranked(offer, scoring.scored(parts, d)) for _, _, offer, parts, d in kept[:limit]]
    return Pool(ranked, farthest, max((r.most_helped or 0 for r in rows), default=0))


def _enough(need: NeedFacts, pool: Pool, limit: int) -> bool:
    """Has the pool the best `limit` scores among every eligible offer? It has when it holds
    `limit` candidates none further could outscore (scoring.ceiling)."""
    if len(pool.ranked) < limit:
        return False
    ceiling = scoring.ceiling(need, Context(now=utcnow()), pool.farthest_km, pool.most_helped)
    return pool.ranked[limit - 1].scored.score >= ceiling


async def candidates(
    session: AsyncSession, *, need: Need, limit: int, viewer_id: uuid.UUID | None = None
) -> list[Ranked]:
    """The best eligible offers, best first: exactly the best scores there are when the walk
    finds them within its bounds (docs/matching.md), else the best of what it found. None of a
    volunteer blocked either way with `viewer_id`, the member who asks (when not the requester)."""
    facts = loading.need_facts(need)
    if facts.in_person and (facts.lat is None or facts.lon is None):
        return []
    if need.requirements_mask & BACKGROUND_CHECKED and need.organization_id is None:
        return []  # only the need's own organisation's vetting counts
    shape = pools.shape_of(need, facts, _dialect(session))
    connection = await session.connection()
    if shape.dialect == "postgresql" and facts.in_person:
        # Postgres cannot estimate bit-mask filters, so it may guess that sorting every matching
        # row beats the index walk; for this transaction, it never does.
        await connection.execute(text("SET LOCAL enable_sort = off"))
    # Without a window every offer is as available as can be, so the nearest `limit` usually
    # meet the ceiling; with one, few offers cover it completely, so the pool starts larger.
    size = limit if facts.window_start is None else max(POOL, limit)
    most = max(MAX_POOL, limit)
    while True:
        params = pools.parameters(need, facts, shape, size, viewer_id=viewer_id)
        rows = list((await connection.execute(pools.statement(shape), params)).all())
        pool = _best(facts, rows, limit)
        # Fewer rows than asked: the walk has nothing more within its bounds. Otherwise look further
        # while the pool holds fewer than `limit` candidates (a mask passes a few rows the exact
        # filters refuse), or, up to a pool of MAX_POOL, while an offer further away could still
        # outscore the last of them.
        if len(rows) < size or size >= pools.WALK or _enough(facts, pool, limit):
            return pool.ranked
        if len(pool.ranked) >= limit and size >= most:
            return pool.ranked
        size = min(pools.WALK, most if len(pool.ranked) >= limit else 2 * size)


async def opportunities(session: AsyncSession, *, offer: Offer, limit: int) -> list[Ranked]:
    """Open public needs this offer could take, best first."""
    facts = loading.offer_facts(offer)
    dialect = _dialect(session)
    now = utcnow()
    base = [
        col(Need.status) == NeedStatus.open,
        or_(closes_at_sql().is_(None), closes_at_sql() > now),
        col(Need.visibility) == Visibility.public,
        col(Need.volunteers_accepted) < col(Need.volunteers_needed),
        col(Need.category).in_(offer.categories),
        col(Need.mode).in_(offer.modes),
        or_(col(Need.requester_id).is_(None), col(Need.requester_id) != offer.volunteer_id),
        _no_active_pair(Need.id, offer.id, offer.volunteer_id),
        # The `blocked` rule, in SQL too: so no blocked requester's needs use up the look-ahead.
        blocks.not_blocked_with(col(Need.requester_id), offer.volunteer_id),
        # Likewise `email_unverified`: needs of organisations this volunteer may not yet help.
        pools.email_verified(col(Need.organization_id), offer.volunteer_id),
    ]
    found: list[Need] = []
    if Mode.in_person in offer.modes:
        # Reaches compare the rounded distance: SQL keeps a margin's superset, `eligible` settles it.
        reach = offer.max_distance_km + pools.REACH_MARGIN_KM
        prefilter, nearest = _near(Need, facts.lat, facts.lon, reach, dialect)
        d = haversine_sql(Need.approx_lat, Need.approx_lon, facts.lat, facts.lon, dialect)
        stmt = (
            select(Need)
            .where(*base, col(Need.mode) == Mode.in_person, prefilter, d <= reach)
            .order_by(*((nearest,) if dialect == "postgresql" else (nearest, col(Need.id))))
        )
        found += (await session.exec(stmt.limit(OPPORTUNITIES_LOOKED_AT))).all()
    if Mode.remote in offer.modes:
        stmt = (
            select(Need)
            .where(*base, col(Need.mode) == Mode.remote)
            .order_by(col(Need.created_at), col(Need.id))
        )
        found += (await session.exec(stmt.limit(OPPORTUNITIES_LOOKED_AT))).all()
    ctx = await loading.context(
        session,
        now=now,
        volunteer_ids=[offer.volunteer_id],
        requester_ids=[n.requester_id for n in found],
        need_ids=[n.id for n in found],
    )
    ranked = []
    for need in found:
        n = loading.need_facts(need, now)
        if eligible(n, facts, ctx):
            ranked.append(Ranked(need, score(n, facts, ctx)))
    ranked.sort(key=lambda r: (-r.scored.score, r.row.id))
    return ranked[:limit]
