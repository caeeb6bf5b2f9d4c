"""Idle notification streams on one worker process: memory, database connections, idle CPU and
event latency.

    uv run python -m bench.streams --streams 10000 --events 200 --hold 35

Starts `python -m app serve` (one worker, production settings, a pool of --pool-size) on a
Postgres database of its own (made afresh, dropped at the end), puts --streams synthetic members
in it (one signed up through the API; the rest copies of that row made in SQL, since argon2 at
production cost would take the machine an hour), gives each an access token signed with the
server's secret, and opens one stream each (`GET /v1/notifications/stream`) from raw asyncio
sockets. It measures the server's RSS with one stream open and with all of them, the database
connections the server holds (pg_stat_activity), and its CPU while the streams sit idle for
--hold seconds; then commits --events notifications (app.notifications.service.notify, one
transaction each, like any domain's) for random members, and times each from the end of its
commit to its arrival on the member's stream. It prints opens refused, streams cut (closed by
the server before the end), events lost (never arrived), and the figures.

`--server-code DIR` serves the code in DIR instead (another checkout of the repository, of the
same schema), to measure the code before a change in the same run.
"""

import argparse
import asyncio
import logging
import os
import random
import re
import resource
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field

import httpx
import psycopg
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.encryption import new_key
from app.core.security import create_access_token
from app.core.timeutil import utcnow
from app.notifications import service
from bench.live import PASSWORD, UNLIMITED, free_port, fresh_database, libpq, percentile

DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/mutual_aid_bench_streams"
SECRET = "streams-benchmark-secret-0123456789abcdef"
TOKEN_TTL = 4 * 3600  # longer than any run: a stream ends when its token expires
EVENT_ID = re.compile(rb"(?:^|\n)id: ([0-9a-f-]{36})\r?\n")
BENCH = "bench"  # the application_name of this process's own connections
# Seals the mail that each event queues, here and in the server alike.
KEY = os.environ.setdefault("DATA_ENCRYPTION_KEYS", new_key())


class StreamClient(asyncio.Protocol):
    """One open stream on a raw socket: the status, each event id with when it arrived, and
    whether the server closed it."""

    def __init__(self, request: bytes, arrived: dict[str, float]) -> None:
        self.request = request
        self.arrived = arrived
        self.status: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.buffer = b""
        self.headers_done = False
        self.lost = False
        self.closing = False
        self.heartbeats = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self.buffer += data
        if not self.headers_done:
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            self.headers_done = True
            status = int(head.split(b" ", 2)[1])
            if not self.status.done():
                self.status.set_result(status)
            self.buffer = b"\n" + rest
        self.heartbeats += self.buffer.count(b": ping")
        end = 0
        for found in EVENT_ID.finditer(self.buffer):
            self.arrived.setdefault(found.group(1).decode(), now)
            end = found.end()
        # Keep what may hold the start of an id line cut by the read.
        self.buffer = self.buffer[max(end, len(self.buffer) - 64) :]
        self.heartbeats -= self.buffer.count(b": ping")

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.status.done():
            self.status.set_result(0)
        self.lost = not self.closing

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()


@dataclass
class Run:
    base: str
    port: int
    members: list[tuple[uuid.UUID, str]]  # (member id, token)
    streams: dict[uuid.UUID, StreamClient] = field(default_factory=dict)
    arrived: dict[str, float] = field(default_factory=dict)
    refused: int = 0

    async def open(self, member_id: uuid.UUID, token: str) -> None:
        request = (
            f"GET /v1/notifications/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
        ).encode()
        client = StreamClient(request, self.arrived)
        try:
            await asyncio.get_running_loop().create_connection(lambda: client, "127.0.0.1", self.port)
            status = await asyncio.wait_for(client.status, 60)
        except (OSError, TimeoutError):
            status = 0
        if status == 200:
            self.streams[member_id] = client
        else:
            self.refused += 1
            client.close()


def server_env(database_url: str, pool_size: int) -> dict[str, str]:
    return {
        **os.environ,
        "DATA_ENCRYPTION_KEYS": KEY,
        "DATABASE_URL": database_url,
        "ENVIRONMENT": "production",
        "JWT_SECRET": SECRET,
        "ACCESS_TOKEN_TTL_SECONDS": str(TOKEN_TTL),
        "DB_POOL_SIZE": str(pool_size),
        "LOG_LEVEL": "WARNING",
        "RATE_LIMIT_MEMBER": UNLIMITED,
        "RATE_LIMIT_KEY": UNLIMITED,
        "RATE_LIMIT_ANONYMOUS": UNLIMITED,
        "RATE_LIMIT_AUTH_FAILURES": UNLIMITED,
    }


def start(database_url: str, pool_size: int, code: str | None) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    command = [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", "1"]
    process = subprocess.Popen(
        command, env=server_env(database_url, pool_size), cwd=code, stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited during start-up with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process, port
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not become ready within 120 s")


def make_members(database_url: str, base: str, count: int) -> list[tuple[uuid.UUID, str]]:
    """`count` members with a live session each and a token for it."""
    body = {"email": "streams0@example.org", "password": PASSWORD, "display_name": "Stream 0"}
    created = httpx.post(f"{base}/v1/members", json=body, timeout=60)
    created.raise_for_status()
    first = created.json()["id"]
    with psycopg.connect(libpq(database_url), autocommit=True) as conn:
        conn.execute(
            """INSERT INTO members (id, email, password_hash, display_name, languages, created_at,
                                    updated_at, platform_admin)
               SELECT gen_random_uuid(), 'streams' || g || '@example.org', password_hash,
                      'Stream ' || g, languages, now(), now(), false
               FROM members, generate_series(1, %s) AS g WHERE id = %s""",
            (count - 1, first),
        )
        conn.execute(
            """INSERT INTO member_sessions (id, member_id, user_agent, created_at, last_used_at, expires_at)
               SELECT gen_random_uuid(), id, 'bench', now(), now(), now() + interval '1 day'
               FROM members"""
        )
        rows = conn.execute("SELECT member_id, id FROM member_sessions ORDER BY member_id").fetchall()
    settings = Settings(jwt_secret=SECRET, access_token_ttl_seconds=TOKEN_TTL)
    return [(m, create_access_token(m, s, settings)) for m, s in rows]


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_connections(database_url: str) -> int:
    name = libpq(database_url).rsplit("/", 1)[1]
    with psycopg.connect(libpq(database_url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name <> %s "
            "AND pid <> pg_backend_pid()",
            (name, BENCH),
        ).fetchone()
    return int(row[0]) if row else 0


async def sample_connections(database_url: str, until: float, peak: list[int]) -> None:
    while time.monotonic() < until:
        peak.append(await asyncio.to_thread(server_connections, database_url))
        await asyncio.sleep(1)


async def lag_probe(lags: list[float]) -> None:
    """How late this process's own event loop wakes up: arrival times include it."""
    while True:
        asked = time.monotonic()
        await asyncio.sleep(0.05)
        lags.append(time.monotonic() - asked - 0.05)


async def health_probe(base: str, seconds: list[float]) -> None:
    """How long the server takes to answer `GET /healthz` (no database): its own loop's lag."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        while True:
            asked = time.monotonic()
            await client.get("/healthz")
            seconds.append(time.monotonic() - asked)
            await asyncio.sleep(0.5)


async def fire(database_url: str, run: Run, events: int, gap: float, rng: random.Random) -> dict[str, float]:
    """Commit `events` notifications for random members with a stream open; when each commit ended."""
    engine = create_async_engine(
        database_url, pool_size=2, connect_args={"application_name": BENCH}, hide_parameters=True
    )
    committed: dict[str, float] = {}
    open_members = list(run.streams)
    try:
        for n in range(events):
            member_id = rng.choice(open_members)
            async with AsyncSession(engine) as session:
                [made] = await service.notify(
                    session, recipients=[member_id], type="match.proposed", data={"bench": n}, actor=None
                )
                await session.commit()
            committed[str(made)] = time.monotonic()
            await asyncio.sleep(gap)
    finally:
        await engine.dispose()
    return committed


async def scenario(args: argparse.Namespace) -> None:
    for quiet in ("httpx", "alembic"):
        logging.getLogger(quiet).setLevel(logging.WARNING)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the server inherits it too
    if hard < args.streams + 1000:
        raise SystemExit(f"open files limited to {hard}: too few for {args.streams} streams")
    fresh_database(args.db)
    process, port = start(args.db, args.pool_size, args.server_code)
    base = f"http://127.0.0.1:{port}"
    rng = random.Random(args.seed)
    try:
        started = utcnow()
        run = Run(base, port, await asyncio.to_thread(make_members, args.db, base, args.streams))
        print(f"members and tokens: {(utcnow() - started).total_seconds():.1f} s")
        await run.open(*run.members[0])
        await asyncio.sleep(3)
        rss_one = rss_mib(process.pid)

        started = utcnow()
        gate = asyncio.Semaphore(args.concurrency)

        async def one(member: tuple[uuid.UUID, str]) -> None:
            async with gate:
                await run.open(*member)

        await asyncio.gather(*(one(m) for m in run.members[1:]))
        opening = (utcnow() - started).total_seconds()
        await asyncio.sleep(5)
        rss_all = rss_mib(process.pid)

        peak: list[int] = []
        beats = sum(c.heartbeats for c in run.streams.values())
        cpu_before, hold_started = cpu_seconds(process.pid), time.monotonic()
        await sample_connections(args.db, hold_started + args.hold, peak)
        idle_cpu = (cpu_seconds(process.pid) - cpu_before) / (time.monotonic() - hold_started)
        beats = sum(c.heartbeats for c in run.streams.values()) - beats
        cut_idle = sum(c.lost for c in run.streams.values())

        sampler = asyncio.create_task(sample_connections(args.db, time.monotonic() + 3600, peak))
        lags: list[float] = []
        probe = asyncio.create_task(lag_probe(lags))
        health: list[float] = []
        health_task = asyncio.create_task(health_probe(base, health))
        committed = await fire(args.db, run, args.events, args.gap, rng)
        for _ in range(int(args.wait * 10)):  # the last events' time to arrive
            if all(e in run.arrived for e in committed):
                break
            await asyncio.sleep(0.1)
        sampler.cancel()
        probe.cancel()
        health_task.cancel()
        latencies = [max(0.0, run.arrived[e] - t) for e, t in committed.items() if e in run.arrived]
        lost = len(committed) - len(latencies)
        cut = sum(c.lost for c in run.streams.values())
        load = os.getloadavg()
        opened = len(run.streams)
        print(f"server code: {args.server_code or 'this checkout'}; pool {args.pool_size}; one worker")
        print(f"streams opened: {opened} of {args.streams} in {opening:.1f} s; refused: {run.refused}")
        print(f"server RSS: {rss_one:.0f} MiB with 1 stream, {rss_all:.0f} MiB with {opened} ", end="")
        print(f"({(rss_all - rss_one) * 1024 / max(1, opened - 1):.0f} KiB a stream)")
        print(f"database connections held by the server: at most {max(peak, default=0)}")
        print(
            f"idle CPU over {args.hold:.0f} s: {idle_cpu * 100:.1f}% of a core; "
            f"heartbeats received meanwhile: {beats}"
        )
        print(f"streams cut: {cut_idle} while idle, {cut} in all")
        ms = [s * 1000 for s in latencies]
        print(f"events: {len(committed)} committed, {len(latencies)} received, {lost} lost")
        p50, p99, top = percentile(ms, 50), percentile(ms, 99), max(ms, default=0)
        print(f"latency from commit to arrival: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {top:.0f} ms")
        print(f"this client's own loop lag meanwhile: max {max(lags, default=0) * 1000:.0f} ms")
        hp50, htop = percentile(health, 50) * 1000, max(health, default=0) * 1000
        print(f"GET /healthz meanwhile (the server's loop): p50 {hp50:.0f} ms, max {htop:.0f} ms")
        print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        for client in run.streams.values():
            client.close()
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        admin, name = libpq(args.db).rsplit("/", 1)
        with psycopg.connect(admin + "/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--hold", type=float, default=35.0, help="seconds of idle streams")
    parser.add_argument("--gap", type=float, default=0.05, help="seconds between two events")
    parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the last events")
    parser.add_argument("--concurrency", type=int, default=100, help="streams being opened at once")
    parser.add_argument("--pool-size", type=int, default=10)
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--server-code", default=None, help="serve the code of this checkout instead")
    parser.add_argument("--seed", type=int, default=1)
    asyncio.run(scenario(parser.parse_args()))


if __name__ == "__main__":
    main()
