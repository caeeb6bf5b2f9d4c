"""`/docs` and `/redoc` work offline: their assets come from this service, and a real browser with
every other host unreachable renders the operations."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.core.docs import ASSETS

# A real server and a headless browser: seconds each, started early (tests/conftest.py).
pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Only the server under test resolves; any other host name fails, and the proxy (which the
# browser bypasses for loopback) is a closed port, so even a literal address goes nowhere.
OFFLINE = [
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
]


async def test_the_docs_pages_name_no_other_origin(client: httpx.AsyncClient) -> None:
    for page in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        r = await client.get(page)
        assert r.status_code == 200, page
        assert "default-src 'self'" in r.headers["content-security-policy"]
        urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*["']([^"']+)""", r.text)
        assert all(u.startswith("/") for u in urls), (page, urls)
    docs = (await client.get("/docs")).text
    assert f'src="{ASSETS}/swagger-ui-bundle.js"' in docs
    assert '"validatorUrl": null' in docs
    for asset, kind in (
        ("swagger-ui-bundle.js", "javascript"),
        ("swagger-ui.css", "text/css"),
        ("redoc.standalone.js", "javascript"),
        ("favicon.png", "image/png"),
    ):
        r = await client.get(f"{ASSETS}/{asset}")
        assert r.status_code == 200, asset
        assert kind in r.headers["content-type"], asset


async def test_swagger_authorize_offers_member_login_and_api_keys(client: httpx.AsyncClient) -> None:
    schemes = (await client.get("/openapi.json")).json()["components"]["securitySchemes"]
    assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "/v1/auth/token"
    assert schemes["HTTPBearer"]["scheme"] == "bearer"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app in a real uvicorn process on 127.0.0.1, as a deployment serves it."""
    folder = tmp_path_factory.mktemp("docs-server")
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'docs.db'}",
        "LOG_LEVEL": "WARNING",
        "MATCHING_PROCESS_AT_START": "false",
    }
    log = (folder / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, (folder / "server.log").read_text()
            assert time.monotonic() < deadline, "the server did not start in 120 s"
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _chromium(folder: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--user-data-dir={folder / 'profile'}",
        "--virtual-time-budget=20000",  # let the page fetch /openapi.json and render it
        *OFFLINE,
        *arguments,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


def _fetched_by_page(net_log: Path, origin: str) -> set[str]:
    """The URLs the page asked for, from Chromium's net log: requests it initiated. (The browser's
    own background calls, which the offline rules also block, have no initiating origin.)"""
    log = json.loads(net_log.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return {
        event["params"]["url"]
        for event in log["events"]
        if event["type"] == start and event.get("params", {}).get("initiator") == origin
    }


def test_docs_render_in_a_browser_with_every_other_host_unreachable(
    server: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("chromium")
    net_log = folder / "net-log.json"
    shown = _chromium(folder, f"--log-net-log={net_log}", "--dump-dom", f"{server}/docs")
    dom = shown.stdout
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert dom.count('class="opblock ') >= 30, dom[:2000]  # one block per operation
    assert 'data-path="/v1/needs/{need_id}"' in dom
    assert "btn authorize" in dom  # Authorize, for member login and API keys
    fetched = _fetched_by_page(net_log, server)
    assert {f"{server}/openapi.json", f"{server}{ASSETS}/swagger-ui-bundle.js"} <= fetched
    assert {u for u in fetched if not u.startswith(f"{server}/")} == set()

    picture = folder / "docs.png"
    _chromium(folder, "--window-size=1280,1600", f"--screenshot={picture}", f"{server}/docs")
    assert picture.stat().st_size > 20_000  # a blank page compresses to a few kB
    print(f"screenshot of /docs: {picture}")


def test_redoc_renders_offline_too(server: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("chromium-redoc")
    shown = _chromium(folder, "--dump-dom", f"{server}/redoc")
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "Mutual aid API" in shown.stdout
    assert shown.stdout.count('data-section-id="operation/') >= 30, shown.stdout[:2000]
    assert json.dumps("/v1/needs/{need_id}")[1:-1] in shown.stdout
