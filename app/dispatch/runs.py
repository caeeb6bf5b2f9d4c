"""Batch matching runs: an organisation's open needs and active offers, optimally assigned.

The computing (NumPy, SciPy, OR-Tools) is imported by the functions that compute, not with this
module: every web worker imports it for the route, and only one that reads a SQLite batch needs
them (tests/core/test_imports.py); on Postgres they are imported in the computing process."""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Select, Text, cast, or_
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.callers import Caller
from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker
from app.core.errors import Conflict, Forbidden, Invalid, NotFound, Unavailable
from app.core.timeutil import utcnow
from app.core.transactions import savepoint
from app.dispatch import loading
from app.dispatch.models import RunAssignment, RunRequest, RunResult, RunStats
from app.dispatch.pools import FACTS
from app.geo import haversine_km, round_half_km
from app.matches.models import MatchStatus
from app.matches.service import event, new_match, tell
from app.matching.facts import Context, NeedFacts
from app.matching.masks import TooManyLanguages
from app.matching.scoring import priority
from app.members.suspension import suspended_among
from app.needs.models import Need, NeedStatus, closes_at_sql
from app.offers.models import Offer, OfferStatus
from app.organizations import service as organizations
from app.organizations.models import Scope
from app.safety import blocks
from app.vocab import Mode
from app.webhooks import service as webhooks

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from app.matching.batch import BatchPairs
    from app.matching.columns import OfferColumns

log = logging.getLogger("app.dispatch.runs")
T = TypeVar("T")


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


def row_queries(
    *, organization_id: uuid.UUID, body: RunRequest, now: datetime, runner: uuid.UUID | None = None
) -> tuple[Select[Any], Select[Any]]:
    """The run's two row queries: open needs with free slots, active offers with free capacity,
    but none of a volunteer blocked either way with the coordinator running it (`runner`): the
    run proposes in their name, and two members either of whom blocked the other never meet."""
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
    if runner is not None:
        offers = offers.where(blocks.not_among_blocked_with(col(Offer.volunteer_id), runner))
    return needs, offers


async def gather(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    body: RunRequest,
    now: datetime,
    runner: uuid.UUID | None = None,
) -> Batch:
    """The organisation's open needs with free slots and its active offers with free capacity,
    within the run's area and categories (`row_queries`): two row queries and three for the
    context."""
    needs, offers = row_queries(organization_id=organization_id, body=body, now=now, runner=runner)
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
    import numpy as np

    from app.matching.batch import words_of
    from app.matching.columns import OfferColumns

    connection = await session.connection()
    need_rows = (await connection.execute(needs)).all()
    offer_rows = (await connection.execute(offers)).all()
    if body.area is not None:  # remote needs are in any area
        need_rows = [
            r for r in need_rows if r.mode == Mode.remote or _in_area(r.approx_lat, r.approx_lon, body)
        ]
        offer_rows = [r for r in offer_rows if _in_area(r.lat, r.lon, body)]
    ctx = await loading.run_context(
        session, organization_id=organization_id, needs=needs, offers=offers, now=now
    )
    facts = [loading.need_facts(r, now) for r in need_rows]
    columns = OfferColumns.from_rows(offer_rows, words_of(facts))
    return Batch(
        needs=facts,
        offers=columns,
        slots=np.array([r.free_slots for r in need_rows], dtype=np.int64),
        capacity=columns.left,
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
    import numpy as np

    from app.matching.assignment import assign_arrays
    from app.matching.batch import batch_pairs

    pairs = batch_pairs(batch.needs, batch.offers, batch.ctx, top_k=top_k)
    weight = pairs.score * np.array([priority(n, batch.ctx) for n in batch.needs])[pairs.need]
    # One volunteer fills at most one slot of a need, whichever of their offers it comes through.
    group = pairs.volunteer
    chosen = assign_arrays(pairs.need, pairs.offer, weight, batch.slots, batch.capacity, group=group)
    return Plan(pairs, weight, chosen)


@dataclass(frozen=True)
class Outcome:
    """A run's answer, as plain values: what the computing process sends back to the request."""

    assignments: list[tuple[uuid.UUID, uuid.UUID, float, float | None]]  # need, offer, score, km
    unmatched_need_ids: list[uuid.UUID]
    needs: int
    offers: int
    candidate_pairs: int
    objective: float
    # What proposing copies (only when the run proposes): the assigned needs' facts and the
    # assigned offers' volunteers.
    assigned_needs: dict[uuid.UUID, NeedFacts]
    volunteer_of: dict[uuid.UUID, uuid.UUID]


def outcome(batch: Batch, plan: Plan, *, proposing: bool) -> Outcome:
    import numpy as np

    found, chosen = plan.pairs, plan.chosen
    need_at, offer_at = found.need[chosen], found.offer[chosen]
    assignments = [
        (
            batch.needs[n].id,
            batch.offers.ids[o],
            round(float(sc), 4),
            None if np.isnan(d) else round_half_km(float(d)),
        )
        for n, o, sc, d in zip(
            need_at.tolist(), offer_at.tolist(), found.score[chosen], found.distance_km[chosen], strict=True
        )
    ]
    taken = np.zeros(len(batch.needs), dtype=bool)
    taken[need_at] = True
    offers = batch.offers
    return Outcome(
        assignments=assignments,
        unmatched_need_ids=[batch.needs[i].id for i in np.flatnonzero(~taken).tolist()],
        needs=len(batch.needs),
        offers=len(offers.ids),
        candidate_pairs=int(found.need.size),
        objective=round(float(plan.weight[chosen].sum()), 6),
        assigned_needs={batch.needs[i].id: batch.needs[i] for i in np.flatnonzero(taken).tolist()}
        if proposing
        else {},
        volunteer_of={
            offers.ids[o]: offers.volunteer_ids[offers.volunteer[o]] for o in set(offer_at.tolist())
        }
        if proposing
        else {},
    )


def compute(batch: Batch, top_k: int | None, proposing: bool) -> Outcome:
    """Pairs, assignment and answer of a batch already read (in the computing process)."""
    with _collector_paused():
        return outcome(batch, solve(batch, top_k=top_k), proposing=proposing)


def read_and_compute(
    settings: Settings,
    organization_id: uuid.UUID,
    body: RunRequest,
    now: datetime,
    runner: uuid.UUID | None = None,
) -> Outcome:
    """The whole run in the computing process, reading through its own connection: the rows
    become objects there, not in the web worker. Under READ COMMITTED each of the request's
    statements saw its own snapshot anyway, and proposing checks blocks and pairs again.

    On a loop of its own, not `asyncio.run`: in a process's main thread that swaps the SIGINT
    handler for one holding its task, and swapping it back Python formats that handler's repr,
    the task's result included, the whole outcome (53 ms a run at 10,000 x 50,000)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(_read_and_compute(settings, organization_id, body, now, runner))
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


async def _read_and_compute(
    settings: Settings, organization_id: uuid.UUID, body: RunRequest, now: datetime, runner: uuid.UUID | None
) -> Outcome:
    engine = make_engine(settings.model_copy(update={"db_pool_size": 1}))
    try:
        async with make_sessionmaker(engine, settings)() as session:
            batch = await gather(session, organization_id=organization_id, body=body, now=now, runner=runner)
    finally:
        await engine.dispose()
    return compute(batch, body.candidates_per_need, not body.dry_run)


_pool: ProcessPoolExecutor | None = None
_warming: tuple[ProcessPoolExecutor, Future[None]] | None = None  # the process, its warm-up


def _computer() -> ProcessPoolExecutor:
    """One computing process per web worker, started by `warm` at the web worker's start or else
    by the first run (spawned: the web worker has threads and a running loop, which a fork would
    copy half-way)."""
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_follow,
            initargs=(os.getpid(),),
        )
    return _pool


def _prepare() -> None:
    """In the computing process: import what computing uses (NumPy, SciPy's k-d trees, OR-Tools'
    min-cost flow, the batch code), so that no run waits for it."""
    import scipy.spatial  # noqa: F401
    from ortools.graph.python import min_cost_flow  # noqa: F401

    from app.matching import assignment, batch, columns  # noqa: F401


def warm() -> Future[None]:
    """Start this web worker's computing process and its imports now, in the background.

    Called at start-up (`MATCHING_PROCESS_AT_START`): spawning a Python process and importing
    the computing takes seconds of CPU (over 10 s of wall time on a busy 2-core machine), which
    a coordinator's first run would otherwise wait for. Returns the warm-up's future, the same
    one while the process lives. Never raises: a warm-up that fails is logged (its future holds
    the error), and a process that ended is let go, so the next run starts a new one."""
    global _warming, _pool
    pool = _computer()
    if _warming is not None and _warming[0] is pool:
        return _warming[1]
    try:
        warming = pool.submit(_prepare)
    except BrokenProcessPool:  # it ended since the last run, unnoticed: a new one
        _pool = None
        pool = _computer()
        warming = pool.submit(_prepare)

    def done(future: Future[None]) -> None:
        global _pool
        error = None if future.cancelled() else future.exception()
        if isinstance(error, BrokenProcessPool) and _pool is pool:
            _pool = None
        if error is not None:
            log.warning("matching process warm-up failed: %s", type(error).__name__)

    warming.add_done_callback(done)
    _warming = (pool, warming)
    return warming


def _follow(parent: int) -> None:
    """In the computing process: end with the web worker that started it, however that one ends
    (a server's workers leave without running the executor's exit hooks, which would otherwise
    leave this process behind, holding its descriptors)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="follow-web-worker", daemon=True).start()


def computing_pids() -> list[int]:
    """The computing process, when started (for measuring it)."""
    return [] if _pool is None else [p.pid for p in getattr(_pool, "_processes", {}).values()]


def stop_computing() -> None:
    """At the web worker's shutdown: runs still queued are cancelled and the computing process
    is not waited for (its watch ends it with the web worker), so a long run cannot hold the
    shutdown past the server's grace period."""
    global _pool, _warming
    pool, _pool, _warming = _pool, None, None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


async def off_the_loop(work: Callable[..., T], *args: Any) -> T:
    """`work(*args)` in the computing process: seconds of computing that neither hold the event
    loop nor take the web worker's CPU. Runs of one web worker queue for its one process.

    Errors: the process ended while this run waited or computed (killed, out of memory): a 503
    problem with Retry-After, whoever's run it was; the next run starts a new process. The run
    is not sent again, since it may be the one that ended the process."""
    global _pool
    loop = asyncio.get_running_loop()
    pool = _computer()
    try:
        return await loop.run_in_executor(pool, work, *args)
    except BrokenProcessPool:
        if _pool is pool:  # the first of the waiting runs to learn of it replaces it
            _pool = None
        log.warning("matching_run_process_ended")
        raise Unavailable(
            "The matching process ended before this run finished; try again.", headers={"Retry-After": "5"}
        ) from None


async def run(session: AsyncSession, *, caller: Caller, body: RunRequest, settings: Settings) -> RunResult:
    started = time.perf_counter()
    org = _organization(caller, body.organization_id)
    if not body.dry_run and not caller.has_scope(Scope.matches_write):
        raise Forbidden("Creating matches needs the matches:write scope as well.")
    if caller.key_id is None and org not in caller.coordinator_of:
        raise Forbidden("Only the organization's coordinators can run matching.")
    await organizations.get_organization(session, organization_id=org)
    now = utcnow()
    try:
        if settings.is_sqlite:  # development: the computing process could not open this database
            batch = await gather(session, organization_id=org, body=body, now=now, runner=caller.member_id)
            found = await off_the_loop(compute, batch, body.candidates_per_need, not body.dry_run)
        else:
            found = await off_the_loop(read_and_compute, settings, org, body, now, caller.member_id)
    except TooManyLanguages as exc:
        raise Invalid(str(exc), loc=["body"]) from None
    assignments = [
        RunAssignment(need_id=n, offer_id=o, score=sc, distance_km=d) for n, o, sc, d in found.assignments
    ]
    if not body.dry_run:
        await _propose(session, caller, found)
    return RunResult(
        assignments=assignments,
        unmatched_need_ids=found.unmatched_need_ids,
        stats=RunStats(
            needs=found.needs,
            offers=found.offers,
            candidate_pairs=found.candidate_pairs,
            objective=found.objective,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
        ),
        dry_run=body.dry_run,
    )


async def _propose(session: AsyncSession, caller: Caller, found: Outcome) -> None:
    now = utcnow()
    created = [
        new_match(
            found.assigned_needs[n],
            _Offered(o, found.volunteer_of[o]),
            caller,
            accepted=False,
            score=sc,
            now=now,
        )
        for n, o, sc, _ in found.assignments
    ]
    # The run read blocks before it computed: hold everyone it pairs, then ask again, so a
    # block made meanwhile either is seen here or sees (and ends) these matches.
    requesters = {m.requester_id for m in created if m.requester_id is not None}
    assigned_volunteers = {m.volunteer_id for m in created}
    # The coordinator who runs it too: the proposals are made in their name.
    runner = {caller.member_id} if caller.member_id is not None else set()
    await blocks.hold(session, [*requesters, *assigned_volunteers, *runner])
    parted = await blocks.blocked_pairs(session, requesters | runner, assigned_volunteers)
    if any((side, m.volunteer_id) in parted for m in created for side in (m.requester_id, *runner)):
        raise Conflict("Some of these pairs can no longer be matched; run again.")
    # Likewise a suspension made while the run computed (it writes the row `hold` shares).
    if await suspended_among(session, member_ids=[*requesters, *assigned_volunteers], now=now):
        raise Conflict("Some of these members can no longer be matched; run again.")
    try:
        async with savepoint(session):
            session.add_all(created)
            await webhooks.emit(session, [event(m, MatchStatus.proposed) for m in created])
            await tell(session, created, MatchStatus.proposed, actor=caller.member_id)
    except IntegrityError:
        raise Conflict("Some of these pairs were matched meanwhile; run again.") from None
