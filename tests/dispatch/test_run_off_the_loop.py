"""A matching run computes in another process: while it works, the web worker's event loop keeps
serving and its CPU stays free, and the answer is the one computed in place."""

import asyncio
import os
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import col

from app.core.errors import Unavailable
from app.core.timeutil import utcnow
from app.dispatch import runs
from app.dispatch.runs import compute as compute_here
from app.dispatch.runs import read_and_compute as read_and_compute_here
from app.members.models import Member as MemberRow
from tests.conftest import fresh_app
from tests.factories import Member, assert_problem, join, member, need_body, offer_body, organization

BUSY_CPU_SECONDS = 1.5


def _burn() -> int:
    """Seconds of pure Python on one core, as a large run's computing is, holding the GIL."""
    end = time.process_time() + BUSY_CPU_SECONDS
    spins = 0
    while time.process_time() < end:
        spins += 1
    return spins


def busy_compute(*args: Any) -> runs.Outcome:
    _burn()
    return compute_here(*args)


def busy_read_and_compute(*args: Any) -> runs.Outcome:
    _burn()
    return read_and_compute_here(*args)


async def _a_pair_to_match(client: httpx.AsyncClient) -> tuple[Member, Member, str]:
    """An organisation's coordinator, its volunteer with an offer, and a need 150 m away: a run
    of that organisation assigns the one pair."""
    coordinator, volunteer = await member(client), await member(client)
    org = (await organization(client, coordinator))["id"]
    await join(client, coordinator, org, volunteer)
    offer = await client.post(
        "/v1/offers",
        json=offer_body(location={"lat": 51.5, "lon": -0.12}, availability=[], organization_id=org),
        headers=volunteer.headers,
    )
    assert offer.status_code == 201, offer.text
    need = await client.post(
        "/v1/needs",
        json=need_body(organization_id=org, location={"lat": 51.501, "lon": -0.121}),
        headers=coordinator.headers,
    )
    assert need.status_code == 201, need.text
    return coordinator, volunteer, org


async def test_a_run_leaves_the_event_loop_and_the_web_workers_cpu_free(
    client: httpx.AsyncClient, application: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    coordinator, _, org = await _a_pair_to_match(client)
    body = {"organization_id": org, "dry_run": True}
    # The computing process is started and warm, as on a server after its first run.
    warm = await client.post("/v1/matching/runs", json=body, headers=coordinator.headers)
    assert warm.status_code == 200, warm.text
    monkeypatch.setattr(runs, "compute", busy_compute)
    monkeypatch.setattr(runs, "read_and_compute", busy_read_and_compute)

    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    async def timed_run() -> httpx.Response:
        try:
            return await client.post("/v1/matching/runs", json=body, headers=coordinator.headers)
        finally:
            done.set()

    cpu, wall = time.process_time(), time.perf_counter()
    r, _ = await asyncio.gather(timed_run(), ticker())
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert r.status_code == 200, r.text
    assert r.json()["assignments"] == warm.json()["assignments"] != []
    # The burning happened (the answer waited for it), yet not on this process's CPU, and the
    # loop went on ticking every few milliseconds meanwhile.
    assert wall >= BUSY_CPU_SECONDS
    assert cpu < BUSY_CPU_SECONDS / 2, (cpu, os.cpu_count())
    assert len(gaps) > 10
    assert max(gaps) < 0.5, max(gaps)


def _die(*args: Any) -> runs.Outcome:
    """The computing process ending mid-run, as the kernel's out-of-memory killer would end it."""
    os._exit(1)


async def test_a_run_whose_process_ends_is_a_503_and_the_next_run_gets_a_new_process() -> None:
    with pytest.raises(Unavailable) as ended:
        await runs.off_the_loop(_die)
    assert ended.value.status == 503
    assert ended.value.headers == {"Retry-After": "5"}
    assert runs.computing_pids() == []  # the broken process is let go, not asked again
    assert await runs.off_the_loop(abs, -3) == 3
    assert len(runs.computing_pids()) == 1
    runs.stop_computing()
    assert runs.computing_pids() == []


COMPUTING_MODULES = ("numpy", "scipy.spatial", "ortools.graph.python.min_cost_flow", "app.matching.batch")


def _computing_loaded() -> list[str]:
    """In the computing process: which of the computing modules it has imported."""
    return [name for name in COMPUTING_MODULES if name in sys.modules]


async def test_warming_imports_the_computing_in_the_computing_process_once() -> None:
    runs.stop_computing()
    try:
        assert await runs.off_the_loop(_computing_loaded) == []
        [pid] = runs.computing_pids()
        warming = runs.warm()
        assert runs.warm() is warming  # the same process: one warm-up
        await asyncio.wrap_future(warming)
        assert await runs.off_the_loop(_computing_loaded) == list(COMPUTING_MODULES)
        assert runs.computing_pids() == [pid]
    finally:
        runs.stop_computing()
    assert runs.warm() is not warming  # a new process, warmed again
    runs.stop_computing()


@pytest.mark.parametrize("at_start", [True, False])
async def test_a_web_worker_starts_its_computing_process_at_start_up_when_set(
    database_url: str, at_start: bool
) -> None:
    runs.stop_computing()
    app = await fresh_app(database_url, matching_process_at_start=at_start)
    try:
        async with app.router.lifespan_context(app):
            # Started before any run, the start-up not waiting for it; a run then finds it warm.
            assert len(runs.computing_pids()) == (1 if at_start else 0)
            if at_start:
                await asyncio.wrap_future(runs.warm())
                assert await runs.off_the_loop(_computing_loaded) == list(COMPUTING_MODULES)
        assert runs.computing_pids() == []  # the shutdown let it go
    finally:
        runs.stop_computing()
        await app.state.engine.dispose()


async def test_a_volunteer_suspended_while_the_run_computes_gets_no_proposal(
    client: httpx.AsyncClient, application: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    coordinator, volunteer, org = await _a_pair_to_match(client)
    computed = runs.off_the_loop

    async def suspended_meanwhile(work: Callable[..., runs.Outcome], *args: Any) -> runs.Outcome:
        found = await computed(work, *args)
        async with application.state.sessionmaker() as session:
            await session.exec(
                update(MemberRow)
                .where(col(MemberRow.id) == uuid.UUID(volunteer.id))
                .values(suspended_at=utcnow())
            )
            await session.commit()
        return found

    monkeypatch.setattr(runs, "off_the_loop", suspended_meanwhile)
    body = {"organization_id": org, "dry_run": False}
    r = await client.post("/v1/matching/runs", json=body, headers=coordinator.headers)
    assert_problem(r, 409)
    monkeypatch.setattr(runs, "off_the_loop", computed)
    mine = await client.get("/v1/matches", headers=coordinator.headers)
    assert mine.status_code == 200, mine.text
    assert mine.json()["items"] == []
    # Run again, the suspended volunteer is left out from the start: nothing to propose.
    again = await client.post("/v1/matching/runs", json=body, headers=coordinator.headers)
    assert again.status_code == 200, again.text
    assert again.json()["assignments"] == []
