"""Several server processes: one scrape of /metrics counts the requests every process served."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.observability.test_shutdown import _free_port, _wait_until_up

pytestmark = pytest.mark.slow


def _readyz_count(scrape: str) -> float:
    # /readyz, not /healthz: the start-up probe hits /healthz, and a request is counted just
    # after its answer is sent, so a probe's count can land after any first scrape.
    series = 'mutual_aid_http_requests_total{method="GET",route="/readyz",status="200"} '
    return sum(float(line.removeprefix(series)) for line in scrape.splitlines() if line.startswith(series))


def test_metrics_sum_over_worker_processes(tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'workers.db'}",
        "JWT_SECRET": "workers-test-secret-0123456789abcdef",
        "ENVIRONMENT": "test",
        "MATCHING_PROCESS_AT_START": "false",  # no run here: no computing process
        "LOG_LEVEL": "WARNING",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # so a failed run can kill the workers with it
    )
    try:
        _wait_until_up(base, server)
        assert _readyz_count(httpx.get(f"{base}/metrics", timeout=5).text) == 0
        for _ in range(40):
            # A new connection each time, so the kernel spreads them over both processes.
            with httpx.Client(base_url=base, timeout=5) as one:
                assert one.get("/readyz").status_code == 200
        # The last answer may be on the wire before its count is written: wait for it, briefly.
        deadline = time.monotonic() + 10
        scrape = lambda: _readyz_count(httpx.get(f"{base}/metrics", timeout=5).text)  # noqa: E731
        while scrape() < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        counts = {scrape() for _ in range(10)}
        # Every scrape, whichever process answers it, sees all 40 (and its own earlier scrapes
        # are not /readyz): the samples are summed over processes.
        assert counts == {40.0}
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)  # the server and its worker processes
            server.wait()
