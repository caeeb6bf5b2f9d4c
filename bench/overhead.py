"""Per-request overhead, the public need read and a worker's memory, each beside a baseline
measured in the same run.

    uv run --frozen python -m bench.overhead [--rounds 5] [--seconds 8] [--mix-seconds 30]

Needs `wrk` (Debian package `wrk`). Times, first, importing `app.main` (which builds the app
once) and building a second app with `create_app()`, in fresh processes. Then starts three
servers, each with --workers uvicorn worker processes: the service (`python -m app serve`,
production settings, LOG_LEVEL=INFO so one JSON line per request, written to /dev/null;
Prometheus multiprocess metrics on, as `serve` sets them up for several workers), and the two
baselines of `bench/bare_apps.py` (a bare FastAPI `/healthz`; a raw async psycopg read of a
need's row). It signs up members and creates needs through the API, then runs
`wrk -t2 -c32` against each pair in alternation, the baseline first in even rounds and second
in odd ones (the machine is shared: alternation puts both sides of a pair under the same
load), and prints requests per second, latency and each round's ratio, with medians (for the
anonymous read also the CPU both servers' workers, and Postgres, used during a run, divided by
the requests wrk counted):

- `GET /healthz`: the service against the bare app (target: >= 0.7x);
- `GET /v1/needs/{id}` anonymously, the public view: the service against the raw read (>= 0.9x);
- `GET /v1/needs/{id}` by a member who is a stranger to the need (public view; resolving the
  member's token reads the database), against the same raw read, for comparison.

Last, `bench.load`'s mix for --mix-seconds, and each service worker's resident memory after it
(target: <= 150 MB), with the server's other processes.
"""

import argparse
import asyncio
import logging
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from app.seed import unlimited_trust_environment
from bench.live import free_port, fresh_database, libpq, need_body, offer_body, sign_up
from bench.load import MIX, World, populate, run_phase

DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/mutual_aid_overhead"
SERVICE_ENV = {
    "ENVIRONMENT": "production",
    "JWT_SECRET": "overhead-benchmark-secret-0123456789abcdef",
    # Production refuses to start without it (a Fernet key: 32 bytes, URL-safe base64).
    "DATA_ENCRYPTION_KEYS": "b3ZlcmhlYWQtYmVuY2htYXJrLWtleS0wMTIzNDU2Nzg=",
    "LOG_LEVEL": "INFO",
    # The read is anonymous, from one address at thousands per second: a per-second budget keeps
    # the in-memory window as short as production's per-minute ones are for one caller.
    "RATE_LIMIT_ANONYMOUS": "1000000/second",
    "RATE_LIMIT_MEMBER": "1000000/second",
    "RATE_LIMIT_KEY": "1000000/second",
    "RATE_LIMIT_AUTH_FAILURES": "1000000/second",
}
STARTUP = """
import time
started = time.perf_counter()
import app.main
imported = time.perf_counter()
app.main.create_app()
built = time.perf_counter()
print(imported - started, built - imported)
"""


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    base: str

    def workers(self) -> list[int]:
        """The worker processes uvicorn spawned (its multiprocessing children)."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                cmdline = (stat.parent / "cmdline").read_bytes()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid and b"spawn_main" in cmdline:
                found.append(int(stat.parent.name))
        return sorted(found)

    def cpu_seconds(self) -> float:
        """User and system CPU its workers have used so far."""
        ticks = 0
        for pid in self.workers():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def serve(name: str, command: list[str], ready: str, env: dict[str, str]) -> Server:
    port = free_port()
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # the service's JSON log lines: formatted and written, unread
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited during start-up with {process.returncode}")
        try:
            if httpx.get(base + ready, timeout=1).status_code == 200:
                return Server(name, process, base)
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{name} did not answer {ready} within 120 s")


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_ms: float = 0.0  # the server's workers' CPU per request
    postgres_cpu_ms: float = 0.0  # Postgres' CPU per request


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def wrk(url: str, seconds: float, connections: int, headers: dict[str, str] | None = None) -> Run:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run([*command, url], check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:Non-2xx or 3xx responses|timeout)\D*(\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write) (\d+)", out))
    return Run(rps, p50, p99, errors)


def postgres_cpu_seconds() -> float:
    """User and system CPU that every Postgres process of this machine has used so far (its
    backends serve both servers in turn, so a run's difference is that run's, plus whatever
    background work the server did meanwhile)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, _, rest = text.partition(" (")[2].partition(")")
        if name.startswith("postgres"):
            fields = rest.split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Pair:
    title: str
    baseline: str  # its label
    baseline_url: str
    service_url: str
    headers: dict[str, str] = field(default_factory=dict)  # sent to the service only
    service: str = "service"
    servers: dict[str, Server] = field(default_factory=dict)  # by side, to read their workers' CPU
    runs: dict[str, list[Run]] = field(default_factory=lambda: {"baseline": [], "service": []})

    def run(self, side: str, seconds: float, connections: int) -> Run:
        server = self.servers.get(side)
        before = server.cpu_seconds() if server else 0.0
        database_before = postgres_cpu_seconds()
        if side == "baseline":
            run = wrk(self.baseline_url, seconds, connections)
        else:
            run = wrk(self.service_url, seconds, connections, self.headers)
        if server and run.rps:
            run.cpu_ms = (server.cpu_seconds() - before) * 1000 / (run.rps * seconds)
            run.postgres_cpu_ms = (postgres_cpu_seconds() - database_before) * 1000 / (run.rps * seconds)
        return run

    def ratios(self) -> list[float]:
        return [s.rps / b.rps for b, s in zip(self.runs["baseline"], self.runs["service"], strict=True)]

    def report(self) -> str:
        rows = [self.title]
        for side, label in (("baseline", self.baseline), ("service", self.service)):
            runs = self.runs[side]
            rps = [r.rps for r in runs]
            rows.append(
                f"  {label:<34} req/s median {statistics.median(rps):>8.0f} "
                f"(runs {', '.join(f'{x:.0f}' for x in rps)}); "
                f"p50 {statistics.median(r.p50_ms for r in runs):.2f} ms, "
                f"p99 {statistics.median(r.p99_ms for r in runs):.2f} ms; "
                f"errors {sum(r.errors for r in runs)}"
                + (
                    f"; workers' CPU per request {statistics.median(r.cpu_ms for r in runs):.2f} ms"
                    f", Postgres' {statistics.median(r.postgres_cpu_ms for r in runs):.2f} ms"
                    if self.servers
                    else ""
                )
            )
        base = statistics.median(r.rps for r in self.runs["baseline"])
        mine = statistics.median(r.rps for r in self.runs["service"])
        ratios = self.ratios()
        rows.append(
            f"  ratio, median of rounds {statistics.median(ratios):.2f}x "
            f"(rounds {', '.join(f'{x:.2f}' for x in ratios)}); "
            f"time per request at saturation {1e6 / base:.0f} -> {1e6 / mine:.0f} us "
            f"(+{1e6 / mine - 1e6 / base:.0f} us)"
        )
        return "\n".join(rows)


def startup(repeats: int) -> str:
    """Median seconds to import app.main (one app built at import) and to build one more."""
    imports, builds = [], []
    env = {**os.environ, "DATABASE_URL": "sqlite+aiosqlite://", "ENVIRONMENT": "development"}
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", STARTUP], env=env, check=True, capture_output=True, text=True
        ).stdout
        first, second = (float(x) for x in out.split())
        imports.append(first)
        builds.append(second)
    return (
        f"start-up over {repeats} fresh processes: import app.main median {statistics.median(imports):.2f} s "
        f"(min {min(imports):.2f}), create_app() again median {statistics.median(builds) * 1000:.0f} ms "
        f"(min {min(builds) * 1000:.0f})"
    )


def _status(pid: int) -> dict[str, int]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            values[key] = int(rest.split()[0]) // 1024
    return values


def memory(server: Server, when: str) -> str:
    rows = [f"resident memory of {server.name}'s workers, {when} (MB):"]
    for pid in server.workers():
        s = _status(pid)
        rss, anonymous, files, peak = s["VmRSS"], s["RssAnon"], s["RssFile"], s["VmHWM"]
        rows.append(f"  worker {pid}: RSS {rss} (anonymous {anonymous}, files {files}), peak {peak}")
    parent = _status(server.process.pid)
    rows.append(f"  supervisor {server.process.pid}: RSS {parent['VmRSS']}")
    return "\n".join(rows)


async def prepare(base: str, world: World, args: argparse.Namespace) -> tuple[str, str]:
    """bench.load's population, then one more public need and a stranger's token to read it."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        await populate(client, world, args.volunteers, args.requesters, args.needs_per_requester)
        owner = await sign_up(client, "owner", 0)
        created = await client.post(
            "/v1/needs", json=need_body(world.rng), headers={"Authorization": owner["Authorization"]}
        )
        created.raise_for_status()
        stranger = await sign_up(client, "stranger", 0)
        offer = await client.post(
            "/v1/offers", json=offer_body(world.rng), headers={"Authorization": stranger["Authorization"]}
        )
        offer.raise_for_status()
        world.offer_owner[offer.json()["id"]] = stranger  # the mix may find it and claim with it
        return created.json()["id"], stranger["Authorization"]


def measure(pairs: list[Pair], args: argparse.Namespace) -> None:
    """Each pair, round after round, the baseline first in even rounds and second in odd ones."""
    for pair in pairs:  # warm both sides' workers, unmeasured
        pair.run("baseline", 2, args.connections)
        pair.run("service", 2, args.connections)
    for round_ in range(args.rounds):
        for pair in pairs:
            sides = ["baseline", "service"] if round_ % 2 == 0 else ["service", "baseline"]
            for side in sides:
                pair.runs[side].append(pair.run(side, args.seconds, args.connections))
        load = os.getloadavg()[0]
        print(f"round {round_ + 1}/{args.rounds} done, load average {load:.2f}", flush=True)
    shape = f"wrk -t2 -c{args.connections} -d{args.seconds:g}s, {args.workers} workers each"
    print(f"\n{shape}, {args.rounds} rounds")
    for pair in pairs:
        print(pair.report())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pool-size", type=int, default=10, help="connections per worker, both apps")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=8, help="per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--startup-repeats", type=int, default=5)
    parser.add_argument("--mix-seconds", type=float, default=30, help="bench.load's mix; 0 skips it")
    parser.add_argument("--volunteers", type=int, default=100)
    parser.add_argument("--requesters", type=int, default=100)
    parser.add_argument("--needs-per-requester", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--service-python",
        default=sys.executable,
        help="the interpreter that runs the service (default: this one); a deployment's install "
        "(`UV_PROJECT_ENVIRONMENT=<dir> uv sync --frozen --no-dev`, then <dir>/bin/python) has "
        "none of the development packages this environment imports",
    )
    parser.add_argument(
        "--pairs",
        default="healthz,anonymous,member,transaction",
        help="which comparisons to run, comma-separated (default: all)",
    )
    args = parser.parse_args()
    for noisy in ("httpx", "alembic"):  # a line per request, per migration
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed (Debian: apt-get install wrk)")
    print(f"load average at start: {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    if args.startup_repeats:
        print(startup(args.startup_repeats))

    print(f"database {args.db.rsplit('/', 1)[1]}: created fresh and migrated")
    fresh_database(args.db)
    workers = ["--workers", str(args.workers)]
    pool = {"DB_POOL_SIZE": str(args.pool_size)}
    uvicorn = [sys.executable, "-m", "uvicorn", "--no-access-log", "--log-level", "warning", *workers]
    servers = []
    try:
        service = serve(
            "the service",
            [args.service_python, "-m", "app", "serve", *workers],
            "/readyz",
            {**SERVICE_ENV, **unlimited_trust_environment(), **pool, "DATABASE_URL": args.db},
        )
        servers.append(service)
        bare = serve("bare FastAPI", [*uvicorn, "bench.bare_apps:bare"], "/healthz", {})
        servers.append(bare)
        raw = serve(
            "raw psycopg",
            [*uvicorn, "bench.bare_apps:raw"],
            "/docs",
            {**pool, "RAW_DATABASE_URL": libpq(args.db)},
        )
        servers.append(raw)
        world = World(random.Random(args.seed))
        started = time.perf_counter()
        need_id, member = asyncio.run(prepare(service.base, world, args))
        print(f"populated through the API in {time.perf_counter() - started:.1f} s")
        print(memory(service, "after start-up and populating"))
        read = f"/v1/needs/{need_id}"
        for key in ("id", "title", "approx_location"):
            assert httpx.get(raw.base + read).json()[key] == httpx.get(service.base + read).json()[key]
        available = {
            "healthz": Pair(
                "GET /healthz", "bare FastAPI", bare.base + "/healthz", service.base + "/healthz"
            ),
            "anonymous": Pair(
                f"GET {read} (anonymous, public view)",
                "raw psycopg",
                raw.base + read,
                service.base + read,
                servers={"baseline": raw, "service": service},
            ),
            "member": Pair(
                f"GET {read} (a member who is a stranger to it: public view)",
                "raw psycopg",
                raw.base + read,
                service.base + read,
                {"Authorization": member},
            ),
            "transaction": Pair(
                f"GET {read} (anonymous), the raw read inside BEGIN ... COMMIT as the service's",
                "raw psycopg, in a transaction",
                raw.base + "/in-transaction" + read,
                service.base + read,
            ),
        }
        pairs = [available[name] for name in args.pairs.split(",")]
        measure(pairs, args)
        print(memory(service, "after the wrk runs"))
        if args.mix_seconds:
            mixed, elapsed = asyncio.run(
                run_phase(service.base, world, args.connections, args.mix_seconds, MIX)
            )
            print(mixed.report("bench.load's mix", elapsed))
            print(memory(service, "after the mix"))
        print(f"load average at end: {os.getloadavg()[0]:.2f}")
    finally:
        for server in servers:
            server.stop()


if __name__ == "__main__":
    main()
