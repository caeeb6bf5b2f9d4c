"""Batch matching runs: an organisation's open needs and active offers, optimally assigned."""

import asyncio
import gc
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Select, Text, cast, or_
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.callers import Caller
from app.core.errors import Conflict, Forbidden, Invalid, NotFound
from app.core.timeutil import utcnow
from app.core.transactions import savepoint
from app.dispatch import loading
from app.dispatch.models import RunAssignment, RunRequest, RunResult, RunStats
from app.dispatch.pools import FACTS
from app.geo import haversine_km, round_half_km
from app.matches.models import MatchStatus
from app.matches.service import event, new_match, tell
from app.matching.assignment import assign_arrays
from app.matching.batch import BatchPairs, TooManyLanguages, batch_pairs, words_of
from app.matching.columns import OfferColumns
from app.matching.facts import Context, NeedFacts
from app.matching.scoring import priority
from app.needs.models import Need, NeedStatus, closes_at_sql
from app.offers.models import Offer, OfferStatus
from app.organizations import service as organizations
from app.organizations.models import Scope
from app.safety import blocks
from app.vocab import Mode
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


# What matching reads of each row, as Core rows: ORM objects cost more than matching them.
# (Its organisation and status are the run's own: the query selects by them.)
_RENAMED = ("availability", "languages", "approx_lat", "approx_lon", "organization_id", "status")
_NEED_COLUMNS = (
    *(
        col(getattr(Need, name))
        for name in (
            "id",
            "requester_id",
            "organization_id",
            "category",
            "mode",
            "approx_lat",
            "approx_lon",
            "max_distance_km",
            "languages",
            "requirements_mask",
            "window_start",
            "window_end",
            # The series, so each need's next open occurrence is its window (loading.need_facts).
            "timezone",
            "recurrence_rule",
            "recurrence_until",
            "last_starts_at",
            "cancelled_occurrences",
            "urgency",
            "created_at",
        )
    ),
    (col(Need.volunteers_needed) - col(Need.volunteers_accepted)).label("free_slots"),
)
# The coarse point as lat/lon, and the lists as JSON text, parsed by OfferColumns.from_rows.
_OFFER_COLUMNS = (
    *(col(getattr(Offer, name)) for name in FACTS if name not in _RENAMED),
    *(cast(col(getattr(Offer, name)), Text).label(name) for name in ("availability", "languages")),
    col(Offer.approx_lat).label("lat"),
    col(Offer.approx_lon).label("lon"),
)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Rows, facts and columns hold no reference cycles, but the cyclic collector would walk all
    of them again and again while tens of thousands are made: measured, half the reading time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True)
class Batch:
    """A run's needs as matching facts and its offers as columns, with the slots and capacity
    left on each."""

    needs: list[NeedFacts]
    offers: OfferColumns
    slots: NDArray[np.int64]
    capacity: NDArray[np.int64]
    ctx: Context


async def gather(
    session: AsyncSession, *, organization_id: uuid.UUID, body: RunRequest, now: datetime
) -> Batch:
    """The organisation's open needs with free slots and its active offers with free capacity,
    within the run's area and categories: two row queries and three for the context."""
    needs = core_select(*_NEED_COLUMNS).where(
        col(Need.organization_id) == organization_id,
        col(Need.status) == NeedStatus.open,
        col(Need.volunteers_accepted) < col(Need.volunteers_needed),
        or_(closes_at_sql().is_(None), closes_at_sql() > now),
    )
    if body.categories:
        needs = needs.where(col(Need.category).in_(body.categories))
    offers = core_select(*_OFFER_COLUMNS).where(
        col(Offer.organization_id) == organization_id,
        col(Offer.status) == OfferStatus.active,
        col(Offer.active_matches) < col(Offer.capacity),
    )
    with _collector_paused():
        return await _read(session, organization_id, body, needs, offers, now)


async def _read(
    session: AsyncSession,
    organization_id: uuid.UUID,
    body: RunRequest,
    needs: Select[Any],
    offers: Select[Any],
    now: datetime,
) -> Batch:
    connection = await session.connection()
    need_rows = [
        r
        for r in (await connection.execute(needs)).all()
        if r.mode == Mode.remote or _in_area(r.approx_lat, r.approx_lon, body)
    ]
    offer_rows = [r for r in (await connection.execute(offers)).all() if _in_area(r.lat, r.lon, body)]
    ctx = await loading.run_context(
        session, organization_id=organization_id, needs=needs, offers=offers, now=now
    )
    facts = [loading.need_facts(r, now) for r in need_rows]
    return Batch(
        needs=facts,
        offers=OfferColumns.from_rows(offer_rows, words_of(facts)),
        slots=np.array([r.free_slots for r in need_rows], dtype=np.int64),
        capacity=np.array([r.capacity - r.active_matches for r in offer_rows], dtype=np.int64),
        ctx=ctx,
    )


@dataclass(frozen=True)
class _Offered:
    """What a proposed match copies from its offer."""

    id: uuid.UUID
    volunteer_id: uuid.UUID


@dataclass(frozen=True)
class Plan:
    pairs: BatchPairs
    weight: NDArray[np.float64]
    chosen: NDArray[np.bool_]


def solve(batch: Batch, *, top_k: int | None) -> Plan:
    """Eligible pairs, then the optimal assignment over them: all computing, no database."""
    pairs = batch_pairs(batch.needs, batch.offers, batch.ctx, top_k=top_k)
    weight = pairs.score * np.array([priority(n, batch.ctx) for n in batch.needs])[pairs.need]
    # One volunteer fills at most one slot of a need, whichever of their offers it comes through.
    group = pairs.volunteer
    chosen = assign_arrays(pairs.need, pairs.offer, weight, batch.slots, batch.capacity, group=group)
    return Plan(pairs, weight, chosen)


async def run(session: AsyncSession, *, caller: Caller, body: RunRequest) -> RunResult:
    started = time.perf_counter()
    org = _organization(caller, body.organization_id)
    if not body.dry_run and not caller.has_scope(Scope.matches_write):
        raise Forbidden("Creating matches needs the matches:write scope as well.")
    if caller.key_id is None and org not in caller.coordinator_of:
        raise Forbidden("Only the organization's coordinators can run matching.")
    await organizations.get_organization(session, organization_id=org)
    try:
        batch = await gather(session, organization_id=org, body=body, now=utcnow())
    except TooManyLanguages as exc:
        raise Invalid(str(exc), loc=["body"]) from None
    # Seconds of computing: off the event loop, so the worker keeps serving other requests.
    plan = await asyncio.to_thread(solve, batch, top_k=body.candidates_per_need)
    found, chosen = plan.pairs, plan.chosen
    assignments = [
        RunAssignment(
            need_id=batch.needs[n].id,
            offer_id=batch.offers.ids[o],
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
        await _propose(session, caller, batch, assignments)
    assigned = {a.need_id for a in assignments}
    return RunResult(
        assignments=assignments,
        unmatched_need_ids=[n.id for n in batch.needs if n.id not in assigned],
        stats=RunStats(
            needs=len(batch.needs),
            offers=len(batch.offers.ids),
            candidate_pairs=int(found.need.size),
            objective=round(float(plan.weight[chosen].sum()), 6),
            elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
        ),
        dry_run=body.dry_run,
    )


async def _propose(
    session: AsyncSession, caller: Caller, batch: Batch, assignments: list[RunAssignment]
) -> None:
    need_by_id = {n.id: n for n in batch.needs}
    offers = batch.offers
    volunteers = [offers.volunteer_ids[v] for v in offers.volunteer]
    offer_by_id = {oid: _Offered(oid, v) for oid, v in zip(offers.ids, volunteers, strict=True)}
    now = utcnow()
    created = [
        new_match(
            need_by_id[a.need_id], offer_by_id[a.offer_id], caller, accepted=False, score=a.score, now=now
        )
        for a in assignments
    ]
    # The run read blocks before it computed: hold everyone it pairs, then ask again, so a
    # block made meanwhile either is seen here or sees (and ends) these matches.
    requesters = {m.requester_id for m in created if m.requester_id is not None}
    assigned_volunteers = {m.volunteer_id for m in created}
    await blocks.hold(session, [*requesters, *assigned_volunteers])
    parted = await blocks.blocked_pairs(session, requesters, assigned_volunteers)
    if any((m.requester_id, m.volunteer_id) in parted for m in created):
        raise Conflict("Some of these pairs can no longer be matched; run again.")
    try:
        async with savepoint(session):
            session.add_all(created)
            await webhooks.emit(session, [event(m, MatchStatus.proposed) for m in created])
            await tell(session, created, MatchStatus.proposed, actor=caller.member_id)
    except IntegrityError:
        raise Conflict("Some of these pairs were matched meanwhile; run again.") from None
