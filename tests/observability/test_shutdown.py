"""Graceful shutdown of the real server: a request in flight at SIGTERM still gets its answer."""

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.factories import PASSWORD

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    # Generous: on xdist, beside the other database pass, a cold start queues for the cores (two
    # worker processes took over a minute on a loaded 2-core machine).
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited during start-up"
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("the server did not start within 150 s")


def test_sigterm_lets_the_request_in_flight_finish(tmp_path: Path) -> None:
    db = tmp_path / "shutdown.db"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "JWT_SECRET": "shutdown-test-secret-0123456789abcdef",
        "ENVIRONMENT": "test",
        "MATCHING_PROCESS_AT_START": "false",  # no run here: no computing process
        "SHUTDOWN_GRACE_SECONDS": "20",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_up(base, server)
        # Hold SQLite's write lock, so a sign-up is stuck mid-request until we let go.
        lock = sqlite3.connect(db, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        answers: list[httpx.Response] = []
        body = {"email": "late@example.org", "password": PASSWORD, "display_name": "Late Sign-up"}
        signup = threading.Thread(
            target=lambda: answers.append(httpx.post(f"{base}/v1/members", json=body, timeout=30))
        )
        signup.start()
        time.sleep(1.0)
        assert not answers, "the sign-up should be waiting for the lock"
        server.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert server.poll() is None, "the server must wait for the request in flight"
        lock.execute("ROLLBACK")
        lock.close()
        signup.join(timeout=30)
        assert [a.status_code for a in answers] == [201]
        # uvicorn re-raises the signal once it has shut down cleanly: "ended by SIGTERM".
        assert server.wait(timeout=20) in (0, -signal.SIGTERM)
        stored = sqlite3.connect(db).execute("SELECT count(*) FROM members WHERE email = 'late@example.org'")
        assert stored.fetchone() == (1,)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
