"""Batch matching runs: an organisation's open needs and active offers, optimally assigned."""

import time
import uuid

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.callers import Caller
from app.core.errors import Conflict, Forbidden, Invalid, NotFound
from app.core.timeutil import utcnow
from app.geo import haversine_km, round_half_km
from app.matches import loading
from app.matches.models import Match, MatchStatus, RunAssignment, RunRequest, RunResult, RunStats
from app.matching.assignment import Pair, assign
from app.matching.facts import NeedFacts, OfferFacts
from app.matching.pairs import eligible_pairs
from app.matching.scoring import priority
from app.needs.models import Need, NeedStatus
from app.offers.models import Offer, OfferStatus
from app.organizations import service as organizations


def _organization(caller: Caller, requested: uuid.UUID | None) -> uuid.UUID:
    if requested is None:
        own = caller.organizations()
        if len(own) != 1:
            raise Invalid("Name the organization_id to run matching for.", loc=["body", "organization_id"])
        return next(iter(own))
    if not caller.acts_for(requested):
        raise NotFound("No such organization, or you do not coordinate it.")
    return requested


def _in_area(lat: float | None, lon: float | None, body: RunRequest) -> bool:
    if body.area is None:
        return True
    return (
        lat is not None
        and lon is not None
        and haversine_km(lat, lon, body.area.lat, body.area.lon) <= body.area.radius_km
    )


async def _load(session: AsyncSession, org: uuid.UUID, body: RunRequest) -> tuple[list[Need], list[Offer]]:
    now = utcnow()
    need_stmt = select(Need).where(
        col(Need.organization_id) == org,
        col(Need.status) == NeedStatus.open,
        col(Need.volunteers_accepted) < col(Need.volunteers_needed),
    )
    if body.categories:
        need_stmt = need_stmt.where(col(Need.category).in_(body.categories))
    needs = [
        n
        for n in (await session.exec(need_stmt)).all()
        if (n.window_end is None or n.window_end > now)
        and (n.mode == "remote" or _in_area(n.approx_lat, n.approx_lon, body))
    ]
    offer_stmt = select(Offer).where(
        col(Offer.organization_id) == org,
        col(Offer.status) == OfferStatus.active,
        col(Offer.active_matches) < col(Offer.capacity),
    )
    offers = [o for o in (await session.exec(offer_stmt)).all() if _in_area(o.approx_lat, o.approx_lon, body)]
    return needs, offers


async def run(session: AsyncSession, *, caller: Caller, body: RunRequest) -> RunResult:
    started = time.perf_counter()
    org = _organization(caller, body.organization_id)
    if caller.key is None and org not in caller.coordinator_of:
        raise Forbidden("Only the organization's coordinators can run matching.")
    await organizations.get_organization(session, organization_id=org)
    needs, offers = await _load(session, org, body)
    need_facts = [loading.need_facts(n) for n in needs]
    offer_facts = [loading.offer_facts(o) for o in offers]
    ctx = await loading.context(
        session,
        now=utcnow(),
        volunteer_ids=[o.volunteer_id for o in offers],
        requester_ids=[n.requester_id for n in needs],
        need_ids=[n.id for n in needs],
    )
    scored = eligible_pairs(need_facts, offer_facts, ctx)
    by_pair = {(p.need.id, p.offer.id): p for p in scored}
    result = assign(
        [Pair(p.need.id, p.offer.id, p.scored.score * priority(p.need, ctx)) for p in scored],
        slots={n.id: n.volunteers_needed - n.volunteers_accepted for n in needs},
        capacity={o.id: o.capacity - o.active_matches for o in offers},
    )
    assignments = [
        _assignment(
            by_pair[(p.need_id, p.offer_id)].need,
            by_pair[(p.need_id, p.offer_id)].offer,
            by_pair[(p.need_id, p.offer_id)].scored.score,
        )
        for p in result.pairs
    ]
    if not body.dry_run:
        await _propose(session, caller, needs, offers, assignments)
    assigned = {a.need_id for a in assignments}
    return RunResult(
        assignments=assignments,
        unmatched_need_ids=[n.id for n in needs if n.id not in assigned],
        stats=RunStats(
            needs=len(needs),
            offers=len(offers),
            candidate_pairs=len(scored),
            objective=round(result.objective, 6),
            elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
        ),
        dry_run=body.dry_run,
    )


def _assignment(need: NeedFacts, offer: OfferFacts, match_score: float) -> RunAssignment:
    d = None
    if need.in_person and need.lat is not None and need.lon is not None:
        d = round_half_km(haversine_km(need.lat, need.lon, offer.lat, offer.lon))
    return RunAssignment(need_id=need.id, offer_id=offer.id, score=round(match_score, 4), distance_km=d)


async def _propose(
    session: AsyncSession,
    caller: Caller,
    needs: list[Need],
    offers: list[Offer],
    assignments: list[RunAssignment],
) -> None:
    need_by_id, offer_by_id = {n.id: n for n in needs}, {o.id: o for o in offers}
    now = utcnow()
    for a in assignments:
        need, offer = need_by_id[a.need_id], offer_by_id[a.offer_id]
        session.add(
            Match(
                need_id=need.id,
                offer_id=offer.id,
                volunteer_id=offer.volunteer_id,
                requester_id=need.requester_id,
                organization_id=need.organization_id,
                status=MatchStatus.proposed,
                score=a.score,
                proposed_by_member_id=caller.member_id,
                proposed_by_key_id=caller.key.id if caller.key else None,
                created_at=now,
                updated_at=now,
            )
        )
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict("Some of these pairs were matched meanwhile; run again.") from None
