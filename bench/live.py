"""A real server for the live benchmarks: its own Postgres database, `python -m app serve` in a
subprocess, synthetic members signed up through the API, and latency bookkeeping."""

import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
from cryptography.fernet import Fernet

from app.migrate import upgrade_head
from app.seed import unlimited_trust_environment

PASSWORD = "load-test-password"
# A neighbourhood around a made-up centre; every person and place is synthetic.
CENTRE = (51.5072, -0.1276)
UNLIMITED = "1000000/minute"
READY_SECONDS = 180  # a server on a loaded machine took over a minute to start


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def fresh_database(url: str) -> None:
    admin, name = libpq(url).rsplit("/", 1)
    with psycopg.connect(admin + "/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    upgrade_head(url)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return int(self.process.wait())


def start_server(database_url: str, *, workers: int, pool_size: int, **env: str) -> Server:
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ENVIRONMENT": "production",
        "JWT_SECRET": "live-benchmark-secret-0123456789abcdef",
        "DB_POOL_SIZE": str(pool_size),
        "LOG_LEVEL": "WARNING",
        # Production seals secrets at rest: a key made for this run (its database is thrown away).
        "DATA_ENCRYPTION_KEYS": os.environ.get("DATA_ENCRYPTION_KEYS") or Fernet.generate_key().decode(),
        # The benchmark measures the service, not its rate limits.
        "RATE_LIMIT_MEMBER": UNLIMITED,
        "RATE_LIMIT_KEY": UNLIMITED,
        "RATE_LIMIT_ANONYMOUS": UNLIMITED,
        "RATE_LIMIT_AUTH_FAILURES": UNLIMITED,
        # Nor its trust limits: a few requesters and volunteers stand for a city's worth.
        **unlimited_trust_environment(),
        **env,
    }
    command = [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited during start-up with {process.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return Server(process, base)
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    # Terminated, not killed: the supervisor then stops its workers, which a kill would orphan.
    Server(process, base).stop()
    raise RuntimeError(f"the server did not become ready within {READY_SECONDS} s")


def near(rng: random.Random, spread_km: float = 4.0) -> dict[str, float]:
    lat, lon = CENTRE
    return {
        "lat": round(lat + rng.gauss(0, spread_km / 111), 6),
        "lon": round(lon + rng.gauss(0, spread_km / 69), 6),
    }


def need_body(rng: random.Random) -> dict[str, Any]:
    return {
        "category": rng.choice(["groceries", "errands", "companionship", "transport"]),
        "title": "Help with a weekly errand",
        "mode": "in_person",
        "location": near(rng),
        "contact": {"name": "Synthetic Person", "phone": "+44 7700 900000"},
        "urgency": rng.choice(["low", "normal", "high"]),
    }


def offer_body(rng: random.Random) -> dict[str, Any]:
    return {
        "categories": ["groceries", "errands", "companionship", "transport"],
        "modes": ["in_person", "remote"],
        "location": near(rng),
        "max_distance_km": 15,
        "capacity": 50,
        "languages": ["en"],
    }


async def sign_up(client: httpx.AsyncClient, label: str, n: int) -> dict[str, str]:
    email = f"{label}{n}@example.org"
    body = {"email": email, "password": PASSWORD, "display_name": f"{label.title()} {n}"}
    created = await client.post("/v1/members", json=body)
    created.raise_for_status()
    token = await client.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
    token.raise_for_status()
    return {"id": created.json()["id"], "Authorization": f"Bearer {token.json()['access_token']}"}


@dataclass
class Tally:
    """Latencies and outcomes per operation; an error is a 5xx, a transport failure, or any
    status the operation does not expect."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def record(self, op: str, seconds: float, status: int, expected: set[int]) -> None:
        self.latencies[op].append(seconds)
        self.statuses[op][status] += 1
        if status not in expected:
            self.errors[op] += 1

    def report(self, title: str, elapsed: float) -> str:
        rows = [
            f"{title}: {elapsed:.1f} s",
            f"{'operation':<30}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}  statuses",
        ]
        total = 0
        for op, values in sorted(self.latencies.items()):
            total += len(values)
            p50, p99 = percentile(values, 50), percentile(values, 99)
            statuses = ", ".join(f"{s}: {c}" for s, c in sorted(self.statuses[op].items()))
            rows.append(
                f"{op:<30}{len(values):>9}{len(values) / elapsed:>9.1f}{p50 * 1000:>9.1f}"
                f"{p99 * 1000:>9.1f}{self.errors[op]:>8}  {statuses}"
            )
        rows.append(f"{'all':<30}{total:>9}{total / elapsed:>9.1f}   errors: {sum(self.errors.values())}")
        return "\n".join(rows)


def percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]
