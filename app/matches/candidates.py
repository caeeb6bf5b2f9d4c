"""Candidates for a need and opportunities for an offer: SQL narrows, app.matching decides.

SQL applies the cheap filters (status, capacity, bit masks, reach, no active pair) and walks
offers nearest-first (PostGIS KNN on Postgres, H3 coverings on SQLite) a pool at a time; the
pure filters then decide eligibility and the score ranks what is left. Every distance is
between coarse points, so nothing anyone reads depends on where inside its cell a volunteer is.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Float, exists, func, literal, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.timeutil import utcnow
from app.geo import covering_cells, resolution_for
from app.matches import loading
from app.matches.models import ACTIVE, Match
from app.matching.facts import BACKGROUND_CHECKED
from app.matching.filters import eligible
from app.matching.scoring import Scored, score
from app.members.models import Member
from app.needs.models import Need, NeedStatus, Visibility
from app.offers.models import Offer, OfferStatus
from app.spatial import geog, haversine_sql
from app.vocab import Mode

MAX_REACH_KM = 200.0  # the furthest any offer may reach (OfferCreate.max_distance_km)
POOL = 200
MAX_ROUNDS = 5


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


def _no_active_pair(need_id: Any, offer_id: Any) -> ColumnElement[bool]:
    return ~exists().where(
        col(Match.need_id) == need_id, col(Match.offer_id) == offer_id, col(Match.status).in_(ACTIVE)
    )


async def candidates(session: AsyncSession, *, need: Need, limit: int) -> list[Ranked]:
    facts = loading.need_facts(need)
    dialect = _dialect(session)
    plain = need.requirements_mask & ~BACKGROUND_CHECKED
    conditions = [
        col(Offer.status) == OfferStatus.active,
        col(Offer.active_matches) < col(Offer.capacity),
        col(Offer.categories_mask).op("&")(facts.category_bit) != 0,
        col(Offer.modes_mask).op("&")(facts.mode_bit) != 0,
        col(Offer.capabilities_mask).op("&")(plain) == plain,
        _no_active_pair(need.id, Offer.id),
    ]
    if need.requester_id is not None:
        conditions.append(col(Offer.volunteer_id) != need.requester_id)
    order: Any = (col(Offer.active_matches), col(Offer.id))
    if facts.in_person:
        if facts.lat is None or facts.lon is None:
            return []
        reach = min(MAX_REACH_KM, need.max_distance_km or MAX_REACH_KM)
        prefilter, nearest = _near(Offer, facts.lat, facts.lon, reach, dialect)
        d = haversine_sql(Offer.approx_lat, Offer.approx_lon, facts.lat, facts.lon, dialect)
        conditions += [prefilter, d <= col(Offer.max_distance_km) + 1e-9]
        order = (nearest, col(Offer.id))
    stmt = (
        select(Offer, Member.display_name)
        .join(Member, col(Member.id) == col(Offer.volunteer_id))
        .where(*conditions)
        .order_by(*order)
    )
    offers: list[tuple[Offer, str]] = []
    for round_ in range(MAX_ROUNDS):
        batch = list((await session.exec(stmt.offset(round_ * POOL).limit(POOL))).all())
        offers += batch
        if len(batch) < POOL or len(offers) >= limit * 5:
            break
    ctx = await loading.context(
        session,
        now=utcnow(),
        volunteer_ids=[o.volunteer_id for o, _ in offers],
        requester_ids=[need.requester_id],
        need_ids=[need.id],
    )
    ranked = []
    for offer, name in offers:
        o = loading.offer_facts(offer, name)
        if eligible(facts, o, ctx):
            ranked.append(Ranked(o, score(facts, o, ctx)))
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
        _no_active_pair(Need.id, offer.id),
    ]
    found: list[Need] = []
    if Mode.in_person in offer.modes:
        prefilter, nearest = _near(Need, facts.lat, facts.lon, offer.max_distance_km, dialect)
        d = haversine_sql(Need.approx_lat, Need.approx_lon, facts.lat, facts.lon, dialect)
        stmt = (
            select(Need)
            .where(*base, col(Need.mode) == Mode.in_person, prefilter, d <= offer.max_distance_km + 1e-9)
            .order_by(nearest, col(Need.id))
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
