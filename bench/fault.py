"""Fault run: steady load while the database is stopped for 10 s and started again.

    uv run python -m bench.fault --db postgresql+psycopg://postgres@127.0.0.1:5433/mutual_aid_fault \\
        --stop-cmd "pg_ctlcluster --skip-systemctl-redirect 15 fault stop -m fast" \\
        --start-cmd "pg_ctlcluster --skip-systemctl-redirect 15 fault start"

Stopping a database server is disruptive, so point this at a server of its own (see
docs/benchmarks.md for a throwaway cluster). It starts `python -m app serve` once and never
restarts it, sends writes (POST /v1/needs) and reads (GET /v1/needs/{id}) from concurrent
clients, stops the database after --before seconds, starts it again --outage seconds later, and
keeps the load on for --after seconds. It then checks, and prints:
- during the outage every answer is a 503 problem with Retry-After, each within 2 s;
- after the database returns, requests succeed again without restarting the service;
- every write acknowledged with 201 is in the database (counted, id by id);
- every request got an HTTP answer, whatever its status: requests sent against answers received,
  per group (before the stop, in flight as it stopped or started, during the outage, after).
The exit status is 1 if any check fails.
"""

import argparse
import asyncio
import random
import shlex
import subprocess
import time
from dataclasses import dataclass

import httpx
import psycopg

from bench.live import fresh_database, libpq, need_body, percentile, sign_up, start_server

DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5433/mutual_aid_fault"
CLUSTER = "pg_ctlcluster --skip-systemctl-redirect 15 fault"
PROMPT_S = 2.0
NO_ANSWER = 599


@dataclass(frozen=True)
class Outcome:
    op: str
    sent: float
    answered: float
    status: int  # NO_ANSWER (599): no HTTP answer at all (connection failed, cut off or timed out)
    problem: bool
    retry_after: bool
    need_id: str | None

    @property
    def seconds(self) -> float:
        return self.answered - self.sent


async def load(
    base: str, people: list[dict[str, str]], concurrency: int, until: float, rng: random.Random
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    written: list[str] = []
    sent_count = 0

    async def one(client: httpx.AsyncClient) -> None:
        nonlocal sent_count
        person = rng.choice(people)
        headers = {"Authorization": person["Authorization"]}
        read = bool(written) and rng.random() < 0.4
        sent = time.monotonic()
        sent_count += 1
        try:
            if read:
                r = await client.get(f"/v1/needs/{rng.choice(written)}", headers=headers)
            else:
                r = await client.post("/v1/needs", json=need_body(rng), headers=headers)
        except httpx.HTTPError:
            # Refused, cut off mid-answer or timed out: no HTTP answer at all.
            outcomes.append(
                Outcome("read" if read else "write", sent, time.monotonic(), NO_ANSWER, False, False, None)
            )
            return
        need_id = r.json()["id"] if not read and r.status_code == 201 else None
        if need_id:
            written.append(need_id)
        outcomes.append(
            Outcome(
                "read" if read else "write",
                sent,
                time.monotonic(),
                r.status_code,
                r.headers.get("content-type") == "application/problem+json",
                "retry-after" in r.headers,
                need_id,
            )
        )

    async def user(client: httpx.AsyncClient) -> None:
        while time.monotonic() < until:
            await one(client)
            await asyncio.sleep(0.01)  # steady, not saturating: the point is behaviour, not speed

    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        await asyncio.gather(*(user(client) for _ in range(concurrency)))
    if sent_count != len(outcomes):
        raise RuntimeError(f"{sent_count} requests sent but {len(outcomes)} outcomes recorded")
    return outcomes


def run(command: str) -> float:
    subprocess.run(shlex.split(command), check=True)
    return time.monotonic()


async def scenario(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    # Each request the outage refuses logs a warning; a few thousand of them would bury the report.
    server = start_server(args.db, workers=args.workers, pool_size=10, LOG_LEVEL="ERROR")
    pid = server.process.pid
    try:
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
            people = [await sign_up(client, "resident", n) for n in range(args.people)]
        began = time.monotonic()
        until = began + args.before + args.outage + args.after
        loader = asyncio.create_task(load(server.base, people, args.concurrency, until, rng))
        await asyncio.sleep(args.before)
        stop_began = time.monotonic()
        stopped = await asyncio.to_thread(run, args.stop_cmd)
        await asyncio.sleep(args.outage)
        start_began = time.monotonic()
        started = await asyncio.to_thread(run, args.start_cmd)
        outcomes = await loader
        alive = server.process.poll() is None
    finally:
        exit_status = server.stop()

    def t(moment: float) -> float:
        return moment - began

    print(f"server pid {pid}, never restarted: {alive}; stopped afterwards with exit status {exit_status}")
    print(
        f"database stop issued at {t(stop_began):.2f} s, down by {t(stopped):.2f} s; "
        f"start issued at {t(start_began):.2f} s, up by {t(started):.2f} s"
    )
    before = [o for o in outcomes if o.answered < stop_began]
    outage = [o for o in outcomes if o.sent >= stopped and o.answered < start_began]
    after = [o for o in outcomes if o.sent >= started]
    straddling = [o for o in outcomes if o not in before and o not in outage and o not in after]
    first_ok = min((o.answered for o in after if o.status < 500), default=None)
    recovered = [o for o in after if first_ok is not None and o.sent >= first_ok]
    failures: list[str] = []

    def describe(name: str, group: list[Outcome]) -> None:
        statuses: dict[int, int] = {}
        for o in group:
            statuses[o.status] = statuses.get(o.status, 0) + 1
        latencies = [o.seconds for o in group] or [0.0]
        print(
            f"{name:<34}{len(group):>6} requests  statuses {dict(sorted(statuses.items()))}  "
            f"p50 {percentile(latencies, 50) * 1000:.0f} ms  max {max(latencies) * 1000:.0f} ms"
        )

    def answered(name: str, group: list[Outcome]) -> None:
        got = sum(1 for o in group if o.status != NO_ANSWER)
        print(f"{name:<34}sent {len(group):>6}  answered {got:>6}  without an answer {len(group) - got}")
        if got != len(group):
            failures.append(f"{len(group) - got} request(s) {name} got no HTTP answer")

    describe("before the stop", before)
    describe("in flight when it stopped/started", straddling)
    describe("during the outage", outage)
    describe("after the start", after)
    describe("after the first success", recovered)
    # Every request, those in flight as the database went away or came back included, must get
    # an answer: a 503 is an answer, a dropped connection is not.
    answered("before the stop", before)
    answered("in flight when it stopped/started", straddling)
    answered("during the outage", outage)
    answered("after the start", after)
    print(f"requests sent {len(outcomes)}, without an answer {sum(o.status == NO_ANSWER for o in outcomes)}")
    if not outage:
        failures.append("no request was sent during the outage")
    if any(o.status != 503 or not o.problem or not o.retry_after for o in outage):
        failures.append("an answer during the outage was not a 503 problem with Retry-After")
    if any(o.seconds > PROMPT_S for o in outage):
        failures.append(f"an answer during the outage took longer than {PROMPT_S} s")
    if first_ok is None:
        failures.append("no request succeeded after the database came back")
    else:
        print(f"first success {first_ok - started:.2f} s after the database was up")
    if any(o.status >= 500 for o in recovered):
        failures.append("requests failed after the service had recovered")
    if not alive:
        failures.append("the server process died")
    acknowledged = {o.need_id for o in outcomes if o.need_id}
    with psycopg.connect(libpq(args.db)) as conn:
        row = conn.execute("SELECT count(*) FROM needs WHERE id = ANY(%s)", (list(acknowledged),)).fetchone()
        found = int(row[0]) if row else 0
        total_row = conn.execute("SELECT count(*) FROM needs").fetchone()
        total = int(total_row[0]) if total_row else 0
    print(
        f"writes acknowledged with 201: {len(acknowledged)}; of those in the database: {found}; "
        f"lost: {len(acknowledged) - found}; rows in the table: {total}"
    )
    if found != len(acknowledged):
        failures.append("an acknowledged write is missing from the database")
    for failure in failures:
        print(f"FAIL: {failure}")
    print("PASS" if not failures else f"{len(failures)} check(s) failed")
    return 1 if failures else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--stop-cmd", default=f"{CLUSTER} stop -m fast")
    parser.add_argument("--start-cmd", default=f"{CLUSTER} start")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--people", type=int, default=8)
    parser.add_argument("--before", type=float, default=5)
    parser.add_argument("--outage", type=float, default=10)
    parser.add_argument("--after", type=float, default=10)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    fresh_database(args.db)
    raise SystemExit(asyncio.run(scenario(args)))


if __name__ == "__main__":
    main()
