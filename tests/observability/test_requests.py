"""Request ids on every response, JSON log lines that carry them, and Prometheus metrics."""

import json
import logging
import re
import time

import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from tests.conftest import app_for_test, make_settings
from tests.factories import assert_problem, member, need_body

HEX_ID = re.compile(r"[0-9a-f]{32}")


def _our_formatter() -> logging.Formatter:
    handlers = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    assert handlers, "the app installs one JSON handler on the root logger"
    formatter = handlers[-1].formatter
    assert formatter is not None
    return formatter


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    ok = await client.get("/healthz")
    missing = await client.get("/v1/needs/00000000-0000-4000-8000-000000000000")
    invalid = await client.get("/v1/needs", params={"limit": 0})
    unauthorised = await client.get("/v1/members/me")
    unknown_path = await client.get("/no/such/path")
    for response, status in ((ok, 200), (missing, 404), (invalid, 422), (unauthorised, 401)):
        assert response.status_code == status
        assert HEX_ID.fullmatch(response.headers["x-request-id"])
    assert unknown_path.status_code == 404
    assert HEX_ID.fullmatch(unknown_path.headers["x-request-id"])
    ids = {r.headers["x-request-id"] for r in (ok, missing, invalid, unauthorised, unknown_path)}
    assert len(ids) == 5


async def test_a_safe_incoming_id_is_kept_and_an_unsafe_one_replaced(client: httpx.AsyncClient) -> None:
    kept = await client.get("/healthz", headers={"X-Request-ID": "frontend-7.a:b_c"})
    assert kept.headers["x-request-id"] == "frontend-7.a:b_c"
    for unsafe in ("has space", "x" * 129, "{json}", "semi;colon"):
        replaced = await client.get("/healthz", headers={"X-Request-ID": unsafe})
        assert HEX_ID.fullmatch(replaced.headers["x-request-id"])


@pytest.mark.own_app  # adds a route
async def test_an_unhandled_error_is_a_500_problem_with_the_request_id(application: FastAPI) -> None:
    @application.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals 0xdeadbeef")

    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        r = await c.get("/boom", headers={"X-Request-ID": "trace-500"})
    assert_problem(r, 500)
    assert r.headers["x-request-id"] == "trace-500"
    assert "deadbeef" not in r.text


async def test_a_database_outage_is_a_prompt_503_with_retry_after_and_request_id() -> None:
    app = create_app(make_settings("postgresql+psycopg://nobody@127.0.0.1:1/none"))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        before = (await c.get("/metrics")).text
        started = time.perf_counter()
        r = await c.get("/v1/needs")
        elapsed = time.perf_counter() - started
        after = (await c.get("/metrics")).text
    outage = "mutual_aid_database_unavailable_total"
    assert _sample(after, outage, reason="connection") - _sample(before, outage, reason="connection") == 1
    body = assert_problem(r, 503)
    assert body["type"].endswith("/unavailable")
    assert r.headers["retry-after"] == "5"
    assert HEX_ID.fullmatch(r.headers["x-request-id"])
    assert elapsed < 2.0
    await app.state.engine.dispose()


async def test_log_lines_are_json_with_the_request_id_and_no_query_string(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.requests")
    r = await client.get("/v1/needs", params={"near": "51.5012,-0.1419", "radius_km": 3})
    assert r.status_code == 200
    records = [rec for rec in caplog.records if rec.name == "app.requests"]
    assert len(records) == 1
    line = json.loads(_our_formatter().format(records[0]))
    assert line["event"] == "request"
    assert line["request_id"] == r.headers["x-request-id"]
    assert line["route"] == "/v1/needs"
    assert line["method"] == "GET"
    assert line["status"] == 200
    assert line["level"] == "info"
    assert line["duration_ms"] >= 0
    # Not in any field but the time ("51.5012" also turns up in seconds 51.5012...).
    assert "51.5012" not in json.dumps({k: v for k, v in line.items() if k != "timestamp"})


async def test_records_logged_while_serving_a_request_carry_its_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    app = create_app(make_settings("postgresql+psycopg://nobody@127.0.0.1:1/none"))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        r = await c.get("/v1/needs", headers={"X-Request-ID": "join-me"})
    await app.state.engine.dispose()
    assert r.status_code == 503
    lines = [json.loads(_our_formatter().format(rec)) for rec in caplog.records if rec.name.startswith("app")]
    events = {line["event"]: line for line in lines}
    assert events["database unavailable"]["request_id"] == "join-me"
    assert events["database unavailable"]["level"] == "warning"
    assert events["request"]["request_id"] == "join-me"
    assert events["request"]["status"] == 503
    assert "nobody" not in json.dumps(lines)


def _sample(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and "{" + want + "}" == line[len(name) : line.rindex("}") + 1]:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    asker = await member(client)
    created = await client.post("/v1/needs", json=need_body(), headers=asker.headers)
    need_id = created.json()["id"]
    before = (await client.get("/metrics")).text
    route = "/v1/needs/{need_id}"
    for _ in range(3):
        assert (await client.get(f"/v1/needs/{need_id}")).status_code == 200
    assert (await client.get("/v1/needs/00000000-0000-4000-8000-000000000000")).status_code == 404
    scrape = await client.get("/metrics")
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain")
    after = scrape.text
    total = "mutual_aid_http_requests_total"
    ok = {"method": "GET", "route": route, "status": "200"}
    missing = {"method": "GET", "route": route, "status": "404"}
    assert _sample(after, total, **ok) - _sample(before, total, **ok) == 3
    assert _sample(after, total, **missing) - _sample(before, total, **missing) == 1
    count = "mutual_aid_http_request_duration_seconds_count"
    latency = {"method": "GET", "route": route}
    assert _sample(after, count, **latency) - _sample(before, count, **latency) == 4
    # Series are per template: no need id, and no free-text path, ever becomes a label.
    assert need_id not in after
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    await client.get("/some/made-up/path")
    final = (await client.get("/metrics")).text
    assert _sample(final, total, **unmatched) - _sample(after, total, **unmatched) == 1
    assert "made-up" not in final


@pytest.mark.own_app  # adds a route
async def test_an_unhandled_error_logs_its_frames_but_never_its_message(
    application: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    """Exception messages quote data ("Failing row contains (...)", a bad input): the log keeps
    where it happened and what kind of error it was, and nothing of what it said."""

    # Messages built from data at run time, as a database or validator builds them; a
    # traceback's source lines show only the code that raised them.
    said = {"inner": "input_value='12 Quiet Row'", "outer": "Failing row contains (51.50731, -0.12763)"}

    @application.get("/leaky")
    async def leaky() -> None:
        try:
            raise ValueError(said["inner"])
        except ValueError as inner:
            raise RuntimeError(said["outer"]) from inner

    caplog.set_level(logging.INFO)
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        r = await c.get("/leaky", headers={"X-Request-ID": "leak-check"})
    assert_problem(r, 500)
    [record] = [rec for rec in caplog.records if rec.name == "app.core.errors"]
    line = json.loads(_our_formatter().format(record))
    assert (line["event"], line["request_id"], line["level"]) == ("unhandled error", "leak-check", "error")
    trace = line["exception"]
    assert "builtins.RuntimeError" in trace
    assert "builtins.ValueError" in trace
    assert "in leaky" in trace
    rendered = json.dumps(line)
    for private in ("Failing row", "51.50731", "Quiet Row", "input_value"):
        assert private not in rendered


async def test_metrics_can_ask_for_a_bearer_token(database_url: str) -> None:
    token = "scrape-" + "t" * 24
    async with app_for_test(database_url, metrics_token=token) as app:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            for headers in (
                {},
                {"Authorization": f"Bearer {token[:-1]}"},
                {"Authorization": f"Basic {token}"},
                {"Authorization": "Bearer"},
                {"Authorization": f"Bearer {token}x"},
            ):
                refused = await c.get("/metrics", headers=headers)
                problem = assert_problem(refused, 401)
                assert refused.headers["www-authenticate"] == "Bearer"
                assert token not in refused.text
                assert "METRICS_TOKEN" in problem["detail"]
            scrape = await c.get("/metrics", headers={"Authorization": f"Bearer {token}"})
            assert scrape.status_code == 200
            assert "mutual_aid_http_requests_total" in scrape.text
            # The probes stay open: an orchestrator has no token.
            assert (await c.get("/healthz")).status_code == 200


def test_a_short_or_blank_metrics_token() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        make_settings("sqlite+aiosqlite://", metrics_token="short")
    assert make_settings("sqlite+aiosqlite://", metrics_token="").metrics_token is None


def test_the_request_line_written_directly_is_the_line_the_handler_would_write(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With only the JSON handler listening, the request line skips `logging`'s records
    (app/observability/logs.py, log_request); with anyone else listening it goes as a record.
    The two must write the same line."""
    import io

    from app.observability import logs

    caplog.set_level(logging.INFO, logger="app.requests")
    handler = logs._json_handler
    assert handler is not None
    root = logging.getLogger()
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        fields = {"request_id": "r-1", "method": "GET", "route": "/v1/needs/{need_id}", "status": 404}
        monkeypatch.setattr(root, "handlers", [handler])
        logs.log_request(**fields, duration_ms=1.25)
        direct = stream.getvalue()
        monkeypatch.setattr(root, "handlers", [handler, logging.NullHandler()])
        logs.log_request(**fields, duration_ms=1.25)
        as_record = stream.getvalue()[len(direct) :]
    finally:
        handler.setStream(previous)
    assert direct.endswith("\n")
    assert direct.count("\n") == 1
    one, other = json.loads(direct), json.loads(as_record)
    assert one.pop("timestamp").endswith("Z")
    assert other.pop("timestamp").endswith("Z")
    assert list(one.items()) == list(other.items())
    assert list(one) == ["request_id", "method", "route", "status", "duration_ms", "event", "level", "logger"]
