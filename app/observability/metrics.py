"""Prometheus metrics: request counts, latencies and in-flight requests, per route template.

Labels use the route's template (`/v1/needs/{need_id}`), never the raw path: ids would make
every need its own series, and an unmatched path is anyone's free text. With several server
processes, `PROMETHEUS_MULTIPROC_DIR` makes each process write its samples to files that
`/metrics` sums, so a scrape that lands on one process still sees them all.
"""

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

REQUESTS = Counter(
    "mutual_aid_http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "mutual_aid_http_request_duration_seconds",
    "Time from the request's arrival to the end of its response.",
    ["method", "route"],
    buckets=(0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
IN_PROGRESS = Gauge(
    "mutual_aid_http_requests_in_progress",
    "Requests being served right now.",
    ["method"],
    multiprocess_mode="livesum",
)
DATABASE_UNAVAILABLE = Counter(
    "mutual_aid_database_unavailable",
    "Requests answered 503 because of the database, by reason: connection (unreachable or lost),"
    " pool_timeout, statement_timeout, or contention (deadlock, serialisation failure).",
    ["reason"],
)


# Each labelled child, looked up once: `labels()` validates and locks on every call, which cost
# more than the sample itself. The keys are bounded as the series are (methods, route templates,
# status codes).
_counted: dict[tuple[str, str, int], Any] = {}
_timed: dict[tuple[str, str], Any] = {}
_running: dict[str, Any] = {}


def requests_in_progress(method: str) -> Any:
    """The gauge of requests being served for `method` (inc when one starts, dec when it ends)."""
    child = _running.get(method)
    if child is None:
        child = _running[method] = IN_PROGRESS.labels(method)
    return child


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request and its duration, by route template."""
    counted = _counted.get((method, route, status))
    if counted is None:
        counted = _counted[(method, route, status)] = REQUESTS.labels(method, route, str(status))
    counted.inc()
    timed = _timed.get((method, route))
    if timed is None:
        timed = _timed[(method, route)] = LATENCY.labels(method, route)
    timed.observe(seconds)


def exposition() -> tuple[bytes, str]:
    """The text format, summed over processes when the server runs several."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def forget_this_process() -> None:
    """At a server process's clean exit: its live gauges (requests in flight) stop counting."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
