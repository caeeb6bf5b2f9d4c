"""Batch matching runs: an organisation's open needs and active offers, optimally assigned."""

import time
import uuid

import numpy as np
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.callers import Caller
from app.core.errors import Conflict, Forbidden, Invalid, NotFound
from app.core.timeutil import utcnow
from app.geo import haversine_km, round_half_km
from app.matches import loading
from app.matches.models import MatchStatus, RunAssignment, RunRequest, RunResult, RunStats
from app.matches.service import event, new_match
from app.matching.assignment import assign_arrays
from app.matching.batch import TooManyLanguages, batch_pairs
from app.matching.scoring import priority
from app.needs.models import Need, NeedStatus
from app.offers.models import Offer, OfferStatus
from app.organizations import service as organizations
from app.organizations.models import Scope
from app.webhooks import service as webhooks


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
    if not body.dry_run and not caller.has_scope(Scope.matches_write):
        raise Forbidden("Creating matches needs the matches:write scope as well.")
    if caller.key_id is None and org not in caller.coordinator_of:
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
    try:
        found = batch_pairs(need_facts, offer_facts, ctx, top_k=body.candidates_per_need)
    except TooManyLanguages as exc:
        raise Invalid(str(exc), loc=["body"]) from None
    weight = found.score * np.array([priority(n, ctx) for n in need_facts])[found.need]
    chosen = assign_arrays(
        found.need,
        found.offer,
        weight,
        slots=np.array([n.volunteers_needed - n.volunteers_accepted for n in needs], dtype=np.int64),
        capacity=np.array([o.capacity - o.active_matches for o in offers], dtype=np.int64),
        group=found.volunteer,
    )
    assignments = [
        RunAssignment(
            need_id=needs[n].id,
            offer_id=offers[o].id,
            score=round(float(sc), 4),
            distance_km=None if np.isnan(d) else round_half_km(float(d)),
        )
        for n, o, sc, d in zip(
            found.need[chosen],
            found.offer[chosen],
            found.score[chosen],
            found.distance_km[chosen],
            strict=True,
        )
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
            candidate_pairs=int(found.need.size),
            objective=round(float(weight[chosen].sum()), 6),
            elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
        ),
        dry_run=body.dry_run,
    )


async def _propose(
    session: AsyncSession,
    caller: Caller,
    needs: list[Need],
    offers: list[Offer],
    assignments: list[RunAssignment],
) -> None:
    need_by_id, offer_by_id = {n.id: n for n in needs}, {o.id: o for o in offers}
    now = utcnow()
    created = [
        new_match(
            need_by_id[a.need_id], offer_by_id[a.offer_id], caller, accepted=False, score=a.score, now=now
        )
        for a in assignments
    ]
    session.add_all(created)
    await webhooks.emit(session, [event(m, MatchStatus.proposed) for m in created])
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict("Some of these pairs were matched meanwhile; run again.") from None
