"""Batch assignment at city scale: 10,000 open needs x 50,000 active offers.

    uv run python -m bench.batch [--needs 10000] [--offers 50000] [--top-k 25] [--seed 1]
    uv run python -m bench.batch --db [postgresql+psycopg://...] [--reload]

In memory, builds the matching facts straight from the synthetic city and times the two stages
a run performs: eligible pairs with scores, and the optimal assignment. With --db, loads the
same organisation into Postgres once (its own database, kept between runs) and times a run as
`POST /v1/matching/runs` makes it: reading the rows (`runs.gather`), then the same two stages
(`runs.solve`), with the clock pinned to the synthetic city's. Every stage reports wall time and
CPU time (all threads: pairs are found on every core).
"""

import argparse
import asyncio
import gc
import os
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
import scipy.spatial  # noqa: F401  (the run imports these at its first use: here, outside the timings)
from ortools.graph.python import min_cost_flow  # noqa: F401

from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker
from app.dispatch import runs
from app.dispatch.models import RunRequest
from app.matching.assignment import assign_arrays, flows, network
from app.matching.batch import BatchPairs, batch_pairs
from app.matching.columns import OfferColumns
from app.matching.facts import Context, NeedFacts, OfferFacts
from app.matching.scoring import priority
from bench import batch_rows, city
from bench.candidates import ensure_database

DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/mutual_aid_bench_batch"


@dataclass(frozen=True)
class Timed:
    wall_ms: float
    cpu_ms: float

    def __str__(self) -> str:
        return f"{self.wall_ms:,.0f} ms (CPU {self.cpu_ms:,.0f} ms)"


def timed(work: Callable[[], Any]) -> tuple[Any, Timed]:
    w0, c0 = time.perf_counter(), time.process_time()
    out = work()
    return out, Timed(1000 * (time.perf_counter() - w0), 1000 * (time.process_time() - c0))


@dataclass(frozen=True)
class Stages:
    pairs: BatchPairs
    weight: np.ndarray
    chosen: np.ndarray
    find: Timed
    assign: Timed


def stages(
    needs: list[NeedFacts],
    offers: list[OfferFacts] | OfferColumns,
    ctx: Context,
    slots: np.ndarray,
    capacity: np.ndarray,
    top_k: int | None,
) -> Stages:
    """What `runs.solve` does, a stage at a time."""
    pairs, find = timed(lambda: batch_pairs(needs, offers, ctx, top_k=top_k))
    weight = pairs.score * np.array([priority(n, ctx) for n in needs])[pairs.need]
    chosen, assign = timed(
        lambda: assign_arrays(pairs.need, pairs.offer, weight, slots, capacity, group=pairs.volunteer)
    )
    return Stages(pairs, weight, chosen, find, assign)


def report(label: str, s: Stages, load: Timed | None = None) -> None:
    print(
        f"{label}: candidate_pairs={s.pairs.need.size} assigned={int(s.chosen.sum())} "
        f"objective={float(s.weight[s.chosen].sum()):.3f}"
    )
    total = [s.find, s.assign, *([load] if load else [])]
    line = f"  pairs+scores {s.find} | assignment {s.assign}"
    if load:
        line = f"  load from Postgres {load} |" + line
    wall, cpu = sum(t.wall_ms for t in total), sum(t.cpu_ms for t in total)
    print(f"{line} | total {wall:,.0f} ms (CPU {cpu:,.0f} ms)")


def in_memory(w: batch_rows.World, top_k: int | None) -> None:
    needs, offers, ctx = batch_rows.facts(w)
    slots = np.ones(len(needs), np.int64)  # as this benchmark always has: one slot a need
    capacity = np.array([o.capacity - o.active_matches for o in offers], np.int64)
    report("in memory", stages(needs, offers, ctx, slots, capacity, top_k))
    # Memory in a second pass: tracing slows Python several times over, so never while timing.
    tracemalloc.start()
    stages(needs, offers, ctx, slots, capacity, top_k)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"  peak traced memory {peak / 2**20:.0f} MiB")


def bare_read(libpq_url: str, statements: list[tuple[str, dict[str, Any]]]) -> int:
    """The run's row queries through a bare psycopg connection, every row fetched: the floor
    any reading code stands on."""
    rows = 0
    with psycopg.connect(libpq_url) as conn:
        for sql, params in statements:
            rows += len(conn.execute(sql, params).fetchall())
    return rows


async def from_postgres(url: str, w: batch_rows.World, top_k: int | None) -> None:
    settings = Settings(database_url=url, environment="test", migrate_on_startup=False)
    engine = make_engine(settings)
    body = RunRequest(organization_id=w.organization, candidates_per_need=top_k)
    async with make_sessionmaker(engine)() as session:
        await runs.gather(session, organization_id=w.organization, body=body, now=city.NOW)  # warm up
        w0, c0 = time.perf_counter(), time.process_time()
        batch = await runs.gather(session, organization_id=w.organization, body=body, now=city.NOW)
        load = Timed(1000 * (time.perf_counter() - w0), 1000 * (time.process_time() - c0))
    compiled = [
        q.compile(dialect=engine.dialect)
        for q in runs.row_queries(organization_id=w.organization, body=body, now=city.NOW)
    ]
    statements = [(str(c), c.params) for c in compiled]
    await engine.dispose()
    s = stages(batch.needs, batch.offers, batch.ctx, batch.slots, batch.capacity, top_k)
    report(f"from Postgres ({len(batch.needs)} needs, {len(batch.offers.ids)} offers)", s, load)
    # As `POST /v1/matching/runs` runs it: read and computed in the computing process (started
    # and warmed first, as a server's is after its first run), the request only waiting.
    args = (settings, w.organization, body, city.NOW)
    # This process holds the city, its facts and a run's outcome: hundreds of thousands of
    # objects that a web worker does not hold. Left to the cyclic collector, one walk of them
    # (~0.4 s) lands in whichever measurement below comes first, the end to end or the bare
    # read. Frozen, neither pays for the benchmark's own heap.
    gc.collect()
    gc.freeze()
    await runs.off_the_loop(runs.read_and_compute, *args)
    computing = _computing_cpu_ms()
    found, end_to_end = await _timed_async(runs.off_the_loop(runs.read_and_compute, *args))
    computing = _computing_cpu_ms() - computing
    # The same run's floor: a bare psycopg read of the same rows, and the solver alone on the
    # same network (built beforehand), one right after the other.
    libpq = url.replace("postgresql+psycopg://", "postgresql://")
    rows, bare = timed(lambda: bare_read(libpq, statements))
    net = network(s.pairs.need, s.pairs.offer, s.weight, batch.slots, batch.capacity, s.pairs.volunteer)
    assert net is not None
    _, solver = timed(lambda: flows(net))
    floor, floor_cpu = bare.wall_ms + solver.wall_ms, bare.cpu_ms + solver.cpu_ms
    cpu = end_to_end.cpu_ms + computing
    print(
        f"end to end (as the endpoint runs it): {end_to_end.wall_ms:,.0f} ms (CPU {cpu:,.0f} ms: "
        f"web worker {end_to_end.cpu_ms:,.0f}, computing process {computing:,.0f}), "
        f"objective={found.objective:.3f} assigned={len(found.assignments)}\n"
        f"  bare psycopg read of the {rows} rows {bare} + solver alone {solver} = {floor:,.0f} ms "
        f"(CPU {floor_cpu:,.0f} ms)\n"
        f"  end to end / that: {end_to_end.wall_ms / floor:.2f}x wall, {cpu / floor_cpu:.2f}x CPU"
    )


def _computing_cpu_ms() -> float:
    """CPU time the computing process has used (user + system, all its threads; Linux)."""
    total = 0.0
    for pid in runs.computing_pids():
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")
    return total


async def _timed_async(work: Awaitable[Any]) -> tuple[Any, Timed]:
    w0, c0 = time.perf_counter(), time.process_time()
    out = await work
    return out, Timed(1000 * (time.perf_counter() - w0), 1000 * (time.process_time() - c0))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--needs", type=int, default=10_000)
    parser.add_argument("--offers", type=int, default=50_000)
    parser.add_argument("--top-k", type=int, default=25, help="pairs kept per need (0: all)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", nargs="?", const=DEFAULT_DB, help="also run from Postgres (default database)")
    parser.add_argument("--reload", action="store_true", help="with --db: load the rows again")
    args = parser.parse_args()
    w = batch_rows.world(args.needs, args.offers, args.seed)
    print(f"needs={args.needs} offers={args.offers} top_k={args.top_k} seed={args.seed}")
    in_memory(w, args.top_k or None)
    if args.db:
        ensure_database(args.db, args.reload)
        batch_rows.load(args.db.replace("postgresql+psycopg://", "postgresql://"), w)
        asyncio.run(from_postgres(args.db, w, args.top_k or None))


if __name__ == "__main__":
    main()
