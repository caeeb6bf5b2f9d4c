"""Candidates for a need and opportunities for an offer: SQL narrows, app.matching decides.

SQL applies the cheap filters (status, capacity, bit masks) and walks offers nearest-first
(PostGIS KNN over a per-category partial index on Postgres, an H3 covering on SQLite) a pool at
a time, each row carrying whether it is already joined to the need and its shared history; the
pure filters then decide eligibility (reach included) and the score ranks what is left. Every
distance is between coarse points, so nothing anyone reads depends on where inside its cell a
volunteer is.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Float, exists, func, literal, literal_column, or_, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.timeutil import utcnow
from app.geo import covering_cells, haversine_km, resolution_for
from app.matches import loading
from app.matches.models import ACTIVE, Match, MatchStatus
from app.matching.facts import BACKGROUND_CHECKED, Context
from app.matching.filters import eligible
from app.matching.scoring import Scored, score
from app.members.models import Member
from app.needs.models import Need, NeedStatus, Visibility
from app.offers.models import Offer, OfferStatus
from app.spatial import geog, haversine_sql
from app.vocab import Mode

MAX_REACH_KM = 200.0  # the furthest any offer may reach (OfferCreate.max_distance_km)
POOL = 100
MAX_ROUNDS = 3


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


async def _longest_reach(session: AsyncSession) -> float:
    """How far the furthest-reaching active offer goes (an index makes this a single probe)."""
    longest = (
        await session.exec(
            select(func.max(Offer.max_distance_km)).where(col(Offer.status) == OfferStatus.active)
        )
    ).one()
    return float(longest or 0.0)


def _no_active_pair(need_id: Any, offer_id: Any, volunteer_id: Any) -> ColumnElement[bool]:
    return ~exists().where(
        or_(col(Match.offer_id) == offer_id, col(Match.volunteer_id) == volunteer_id),
        col(Match.need_id) == need_id,
        col(Match.status).in_(ACTIVE),
    )


# Only what matching reads: no ORM objects and no JSON that masks already encode.
_OFFER_FACTS = (
    Offer.id,
    Offer.volunteer_id,
    Offer.organization_id,
    Offer.categories_mask,
    Offer.modes_mask,
    Offer.approx_lat,
    Offer.approx_lon,
    Offer.max_distance_km,
    Offer.availability,
    Offer.timezone,
    Offer.capacity,
    Offer.active_matches,
    Offer.languages,
    Offer.capabilities_mask,
    Offer.status,
    Member.display_name,
)


async def candidates(session: AsyncSession, *, need: Need, limit: int) -> list[Ranked]:
    """The best eligible offers among the nearest that pass the cheap filters, a pool at a time."""
    facts = loading.need_facts(need)
    plain = need.requirements_mask & ~BACKGROUND_CHECKED
    conditions = [
        # Written as literals, not parameters, so Postgres can match its per-category partial
        # index (app.spatial.category_index_sql) even with a prepared statement's generic plan.
        col(Offer.status) == literal_column("'active'"),
        col(Offer.categories_mask).op("&")(literal_column(str(int(facts.category_bit)))) != 0,
        col(Offer.active_matches) < col(Offer.capacity),
        col(Offer.modes_mask).op("&")(facts.mode_bit) != 0,
        col(Offer.capabilities_mask).op("&")(plain) == plain,
    ]
    if need.requester_id is not None:
        conditions.append(col(Offer.volunteer_id) != need.requester_id)
    order: Any = (col(Offer.active_matches), col(Offer.id))
    reach, here = MAX_REACH_KM, (0.0, 0.0)
    if facts.in_person:
        if facts.lat is None or facts.lon is None:
            return []
        here = (facts.lat, facts.lon)
        reach = min(MAX_REACH_KM, need.max_distance_km or MAX_REACH_KM)
        prefilter, nearest = _near(Offer, facts.lat, facts.lon, reach, _dialect(session))
        if _dialect(session) == "postgresql":
            # The KNN index yields rows in `<->` order only when that is the whole ORDER BY: a
            # tie-breaker would turn the walk into a scan and sort of every matching row. And
            # Postgres cannot estimate bit-mask filters, so for large pools it guesses that
            # sorting the whole table is cheaper than the walk; for this transaction, it is not.
            order = (nearest,)
            await session.exec(text("SET LOCAL enable_sort = off"))  # type: ignore[call-overload]
        else:
            conditions.append(prefilter)
            order = (nearest, col(Offer.id))
    ctx = Context(now=utcnow())
    # What depends on the pair rides along with each offer row: one round trip per pool.
    # Already joined to this need: through this offer, or the same volunteer through another.
    paired = exists().where(
        col(Match.need_id) == need.id,
        col(Match.status).in_(ACTIVE),
        or_(col(Match.offer_id) == col(Offer.id), col(Match.volunteer_id) == col(Offer.volunteer_id)),
    )
    helped = (
        select(func.count())
        .where(
            col(Match.volunteer_id) == col(Offer.volunteer_id),
            col(Match.requester_id) == need.requester_id,
            col(Match.status) == MatchStatus.completed,
        )
        .scalar_subquery()
    )
    vetting = bool(need.requirements_mask & BACKGROUND_CHECKED)
    ranked: list[Ranked] = []
    seen: set[Any] = set()
    for round_ in range(MAX_ROUNDS):
        size = POOL * (4 if round_ else 1)  # a second look goes wider
        pool = (
            select(Offer.id)
            .where(*conditions)
            .order_by(*order)
            .offset(POOL * (4 * round_ - 3) if round_ else 0)
        )
        facts_of_pool = (
            select(*_OFFER_FACTS, paired.label("paired"), helped.label("helped"))  # type: ignore[call-overload]
            .join(Member, col(Member.id) == col(Offer.volunteer_id))
            .where(col(Offer.id).in_(pool.limit(size).scalar_subquery()))
        )
        fetched = (await session.exec(facts_of_pool)).all()
        rows = [r for r in fetched if r.id not in seen]  # ties at one distance may straddle two pools
        seen.update(r.id for r in rows)
        offers = [loading.offer_facts(r, r.display_name) for r in rows]
        for r in rows:
            if r.paired:
                ctx.active_pairs.add((need.id, r.id))
                ctx.active_volunteers.add((need.id, r.volunteer_id))
            if r.helped and need.requester_id is not None:
                ctx.history[(r.volunteer_id, need.requester_id)] = r.helped
        if vetting:
            await loading.add_people(session, ctx, volunteer_ids=[o.volunteer_id for o in offers])
        ranked += [Ranked(o, score(facts, o, ctx)) for o in offers if eligible(facts, o, ctx)]
        if len(fetched) < size or len(ranked) >= limit or not facts.in_person:
            break
        if max(haversine_km(*here, o.lat, o.lon) for o in offers) > min(reach, await _longest_reach(session)):
            break
    ranked.sort(key=lambda r: (-r.scored.score, r.row.id))
    return ranked[:limit]


async def opportunities(session: AsyncSession, *, offer: Offer, limit: int) -> list[Ranked]:
    """Open public needs this offer could take, best first."""
    facts = loading.offer_facts(offer)
    dialect = _dialect(session)
    now = utcnow()
    base = [
        col(Need.status) == NeedStatus.open,
        or_(col(Need.window_end).is_(None), col(Need.window_end) > now),
        col(Need.visibility) == Visibility.public,
        col(Need.volunteers_accepted) < col(Need.volunteers_needed),
        col(Need.category).in_(offer.categories),
        col(Need.mode).in_(offer.modes),
        or_(col(Need.requester_id).is_(None), col(Need.requester_id) != offer.volunteer_id),
        _no_active_pair(Need.id, offer.id, offer.volunteer_id),
    ]
    found: list[Need] = []
    if Mode.in_person in offer.modes:
        prefilter, nearest = _near(Need, facts.lat, facts.lon, offer.max_distance_km, dialect)
        d = haversine_sql(Need.approx_lat, Need.approx_lon, facts.lat, facts.lon, dialect)
        stmt = (
            select(Need)
            .where(*base, col(Need.mode) == Mode.in_person, prefilter, d <= offer.max_distance_km + 1e-9)
            .order_by(*((nearest,) if dialect == "postgresql" else (nearest, col(Need.id))))
        )
        found += (await session.exec(stmt.limit(POOL * MAX_ROUNDS))).all()
    if Mode.remote in offer.modes:
        stmt = (
            select(Need)
            .where(*base, col(Need.mode) == Mode.remote)
            .order_by(col(Need.created_at), col(Need.id))
        )
        found += (await session.exec(stmt.limit(POOL * MAX_ROUNDS))).all()
    ctx = await loading.context(
        session,
        now=now,
        volunteer_ids=[offer.volunteer_id],
        requester_ids=[n.requester_id for n in found],
        need_ids=[n.id for n in found],
    )
    ranked = []
    for need in found:
        n = loading.need_facts(need)
        if eligible(n, facts, ctx):
            ranked.append(Ranked(need, score(n, facts, ctx)))
    ranked.sort(key=lambda r: (-r.scored.score, r.row.id))
    return ranked[:limit]
