"""The stream on the real server with two worker processes (one server for the module): a
proposal reaches every open stream within a second, whichever process holds it (Postgres
LISTEN/NOTIFY in the Postgres pass, polling in the SQLite one); a reconnect with Last-Event-ID
gets exactly what it missed; and open streams do not hold up shutdown (checked at teardown)."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from app.seed import unlimited_trust_environment
from tests.conftest import IS_POSTGRES
from tests.factories import PASSWORD, need_body, offer_body
from tests.observability.test_shutdown import _free_port

# A two-process server with its pools and listening connections: with the other heavy tests.
pytestmark = [pytest.mark.slow, pytest.mark.connection_heavy]
HERE = {"lat": 51.5, "lon": -0.12}
GRACE_SECONDS = 20


@dataclass
class Stream:
    """One open stream, read on a thread: each event with the moment it arrived."""

    base: str
    headers: dict[str, str]
    events: list[tuple[float, str, dict]] = field(default_factory=list)
    opened: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> "Stream":
        threading.Thread(target=self._read, daemon=True).start()
        assert self.opened.wait(10), "the stream did not open"
        return self

    def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            with httpx.stream(
                "GET", f"{self.base}/v1/notifications/stream", headers=self.headers, timeout=10
            ) as r:
                assert r.status_code == 200
                self.opened.set()
                for line in r.iter_lines():  # a heartbeat comes every 0.2 s, so stop is seen
                    if self.stop.is_set():
                        return
                    if line == "" and "data" in fields:
                        data = json.loads(fields["data"])
                        self.events.append((time.monotonic(), fields.get("id", ""), data))
                        fields = {}
                    elif line and not line.startswith(":"):
                        name, _, value = line.partition(": ")
                        fields[name] = value
        except httpx.HTTPError:
            pass  # the server went away: `ended` says so
        finally:
            self.ended.set()

    def wait_for(self, count: int, seconds: float) -> list[tuple[float, str, dict]]:
        deadline = time.monotonic() + seconds
        while len(self.events) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.events)


@dataclass
class Server:
    base: str
    process: subprocess.Popen[bytes]
    n: int = 0

    def member(self) -> dict[str, str]:
        self.n += 1
        email = f"live{self.n}-{os.getpid()}-{time.time_ns()}@example.org"
        body = {"email": email, "password": PASSWORD, "display_name": f"Live {self.n}"}
        assert httpx.post(f"{self.base}/v1/members", json=body, timeout=10).status_code == 201
        token = httpx.post(
            f"{self.base}/v1/auth/token", data={"username": email, "password": PASSWORD}, timeout=10
        ).json()["access_token"]
        return {"Authorization": f"Bearer {token}"}

    def post(self, path: str, body: dict, headers: dict[str, str]) -> dict:
        r = httpx.post(f"{self.base}{path}", json=body, headers=headers, timeout=10)
        assert r.status_code == 201, r.text
        data: dict = r.json()
        return data

    def propose(self, requester: dict[str, str], offer_id: str, need_id: str | None = None) -> str:
        need_id = need_id or self.post("/v1/needs", need_body(location=HERE), requester)["id"]
        match = self.post("/v1/matches", {"need_id": need_id, "offer_id": offer_id}, requester)
        assert match["status"] == "proposed"
        return str(match["id"])

    def inbox(self, headers: dict[str, str]) -> list[dict]:
        r = httpx.get(f"{self.base}/v1/notifications", headers=headers, timeout=10)
        items: list[dict] = r.json()["items"]
        return items


def _wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    # Two cold workers importing the engine's libraries: on a busy shared machine this has been
    # measured at 69 s, beyond the single server's 60 s allowance.
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited during start-up"
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("the server did not start within 150 s")


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    db = database_url if IS_POSTGRES else f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('live') / 'live.db'}"
    env = {
        **os.environ,
        "DATABASE_URL": db,
        "JWT_SECRET": "live-notifications-secret-0123456789abcdef",
        "ENVIRONMENT": "test",
        "MATCHING_PROCESS_AT_START": "false",  # no run here: no computing process
        "LOG_LEVEL": "WARNING",
        "SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS),
        "NOTIFICATION_HEARTBEAT_SECONDS": "0.2",
        # Postgres's 100 connections are shared with the rest of the suite: a few per worker do.
        "DB_POOL_SIZE": "3",
        # Its few members file many needs: the trust limits are not what this tests.
        **unlimited_trust_environment(),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # so a failed run can kill the workers with it
    )
    try:
        _wait_until_up(base, process)
        running = Server(base, process)
        yield running
        _shuts_down_with_a_stream_open(running)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the server and its worker processes
            process.wait()


def _shuts_down_with_a_stream_open(server: Server) -> None:
    """SIGTERM with a stream open: the stream ends and the server exits well before the grace
    period that a request in flight would be given."""
    stream = Stream(server.base, server.member()).start()
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=GRACE_SECONDS) in (0, -signal.SIGTERM)
    assert time.monotonic() - started < GRACE_SECONDS / 2
    assert stream.ended.wait(5)


def test_a_proposal_reaches_every_open_stream_within_a_second(server: Server) -> None:
    requester, volunteer = server.member(), server.member()
    offer = server.post("/v1/offers", offer_body(location=HERE, availability=[]), volunteer)
    # Four connections: the kernel spreads them over the two processes, and the proposal is
    # served by either, so an event must cross processes to reach them all.
    need = server.post("/v1/needs", need_body(location=HERE), requester)
    streams = [Stream(server.base, volunteer).start() for _ in range(4)]
    match_id = server.propose(requester, offer["id"], need["id"])
    # From the proposal's answer (it is committed by then): the request itself, on a loaded
    # machine, may take most of a second, which is not the stream's delay.
    proposed_at = time.monotonic()
    [told] = server.inbox(volunteer)
    for stream in streams:
        [(arrived, event_id, data)] = stream.wait_for(1, 5)
        assert arrived - proposed_at < 1.0
        assert (event_id, data) == (told["id"], told)
        assert data["type"] == "match.proposed"
        assert data["data"]["match_id"] == match_id
        stream.stop.set()


def test_a_reconnect_gets_exactly_what_it_missed(server: Server) -> None:
    requester, volunteer = server.member(), server.member()
    offer = server.post("/v1/offers", offer_body(location=HERE, availability=[]), volunteer)
    first = Stream(server.base, volunteer).start()
    server.propose(requester, offer["id"])
    [(_, seen, _)] = first.wait_for(1, 5)
    first.stop.set()
    missed = [server.propose(requester, offer["id"]) for _ in range(3)]

    again = Stream(server.base, {**volunteer, "Last-Event-ID": seen}).start()
    got = again.wait_for(3, 5)
    assert [data["data"]["match_id"] for _, _, data in got] == missed
    inbox = server.inbox(volunteer)
    assert [event_id for _, event_id, _ in got] == [n["id"] for n in inbox[:3]][::-1]
    later = server.propose(requester, offer["id"])
    got = again.wait_for(4, 5)
    time.sleep(0.5)  # room for a repeat to show up, if there were one
    assert [data["data"]["match_id"] for _, _, data in again.events] == [*missed, later]
    again.stop.set()
