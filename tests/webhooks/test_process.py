"""`python -m app worker` as a process: it delivers, and on SIGTERM or SIGINT it finishes what
is in flight, records it, and exits cleanly."""

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from app.main import create_app
from app.migrate import upgrade_head
from tests.conftest import TEST_DATA_KEY, make_settings
from tests.factories import member, need_body
from tests.webhooks.support import Receiver, Reply, deliveries, org_with_webhook

ROOT = Path(__file__).resolve().parents[2]


async def _wait_for(condition: object, seconds: float) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out waiting")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_lets_the_delivery_in_flight_finish(
    tmp_path: Path, receiver: Receiver, sig: signal.Signals
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'worker.db'}"
    upgrade_head(url)
    app = create_app(make_settings(url, webhook_allow_private_targets=True))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        coordinator = await member(client)
        org, _ = await org_with_webhook(client, coordinator, receiver.url, ["need.created"])
        r = await client.post("/v1/needs", json=need_body(organization_id=org), headers=coordinator.headers)
        assert r.status_code == 201
    receiver.plan = lambda n: Reply(204, delay=1.5)  # still answering when the signal comes
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "ENVIRONMENT": "test",
        "MIGRATE_ON_STARTUP": "false",
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "WEBHOOK_POLL_SECONDS": "0.1",
        # The API sealed the signing secret under this key: the worker must hold it too.
        "DATA_ENCRYPTION_KEYS": TEST_DATA_KEY,
    }
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "worker", cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        await _wait_for(lambda: len(receiver.requests) == 1, 30)
        worker.send_signal(sig)
        _, stderr = await asyncio.wait_for(worker.communicate(), timeout=15)
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    log = stderr.decode()
    assert worker.returncode == 0, log
    assert "Traceback" not in log
    # JSON lines, as the API writes them; the last says the worker stopped cleanly.
    last = json.loads(log.strip().splitlines()[-1])
    assert (last["event"], last["logger"], last["level"]) == (
        "webhook worker stopped",
        "app.webhooks.worker",
        "info",
    )
    [row] = await deliveries(app)
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 1, 204)
    assert len(receiver.requests) == 1
    await app.state.engine.dispose()


def test_a_lease_must_outlast_an_attempt() -> None:
    with pytest.raises(ValidationError, match="WEBHOOK_LEASE_SECONDS must exceed WEBHOOK_TIMEOUT_SECONDS"):
        make_settings("sqlite+aiosqlite://", webhook_timeout_seconds=30, webhook_lease_seconds=30)
    assert make_settings("sqlite+aiosqlite://").webhook_max_attempts == 16
