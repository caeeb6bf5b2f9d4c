"""What FastAPI's dependency solving itself costs a request: the walk, not the dependencies' work.

    uv run --frozen python -m bench.dependencies [--route "GET /v1/needs/{need_id}"] [--calls 3000]

Takes the route's real dependency tree from the service's app and builds a mirror of it in a
bare FastAPI app: the same shape (every node, sub-tree, cache flag and scope, generators kept as
generators, the two credential schemes themselves), but every dependency a no-op. Then calls the
mirror's route and a route with no dependency at all, in process (ASGI, no HTTP), alternating,
--rounds rounds of --calls calls each, and prints the CPU per call (`time.process_time`, median
and range of rounds) and what each node of the walk costs. FastAPI solves a sub-tree again under
every dependency that names it, even when its value is cached, so the printout also counts the
nodes walked that only repeat one already solved: the most that trimming the tree could save.
A figure, not a test.
"""

import argparse
import asyncio
import inspect
import statistics
import time
from collections.abc import AsyncIterator, Callable, Iterator, MutableMapping
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi import routing as fastapi_routing
from fastapi.dependencies.models import Dependant
from fastapi.security.base import SecurityBase

from app.core.config import Settings
from app.main import create_app


def _candidates(routes: list[Any]) -> Iterator[Any]:
    for route in routes:
        if isinstance(route, fastapi_routing._IncludedRouter):
            yield from _candidates(route.effective_candidates())
        else:
            yield route


def find(app: FastAPI, method: str, path: str) -> Dependant:
    for route in _candidates(app.router.routes):
        if getattr(route, "path_format", None) == path and method in (route.methods or ()):
            dependant: Dependant = route.dependant
            return dependant
    raise SystemExit(f"no route {method} {path}")


def walk(dependant: Dependant) -> Iterator[Dependant]:
    """Every node FastAPI solves for a request, in its order: sub-trees again wherever named."""
    for sub in dependant.dependencies:
        yield from walk(sub)
        yield sub


def mirror(dependant: Dependant, made: dict[Any, Callable[..., Any]]) -> Callable[..., Any]:
    """A no-op dependency of the same shape as `dependant` (one per original, so caching holds)."""
    call = dependant.call
    if isinstance(call, SecurityBase):
        return call  # the scheme itself: it only reads the Authorization header
    if call in made:
        return made[call]
    parameters = [
        inspect.Parameter(
            f"p{i}",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[Any, Depends(mirror(sub, made), use_cache=sub.use_cache, scope=sub.scope)],
        )
        for i, sub in enumerate(dependant.dependencies)
    ]
    if inspect.isasyncgenfunction(call):

        async def generator(**values: Any) -> AsyncIterator[None]:
            yield None

        fake: Callable[..., Any] = generator
    else:

        async def plain(**values: Any) -> None:
            return None

        fake = plain
    fake.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    made[call] = fake
    return fake


def bare_app(real: Dependant) -> FastAPI:
    app = FastAPI()
    app.get("/mirror/{item}", dependencies=[Depends(mirror(real, {}))])(_endpoint)
    app.get("/none/{item}")(_endpoint)
    return app


async def _endpoint(item: str) -> dict[str, str]:
    return {"item": item}


async def time_calls(app: FastAPI, path: str, calls: int) -> float:
    """CPU microseconds per call of `path`."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    started = time.process_time()
    for _ in range(calls):
        await app(dict(scope), receive, send)
    elapsed = time.process_time() - started
    assert set(statuses) == {200}, set(statuses)
    return elapsed / calls * 1e6


async def measure(app: FastAPI, rounds: int, calls: int) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {"mirror": [], "none": []}
    await time_calls(app, "/mirror/x", calls // 10)  # warm
    await time_calls(app, "/none/x", calls // 10)
    for round_ in range(rounds):
        order = ["mirror", "none"] if round_ % 2 == 0 else ["none", "mirror"]
        for name in order:
            found[name].append(await time_calls(app, f"/{name}/x", calls))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--route", default="GET /v1/needs/{need_id}")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    method, path = args.route.split(" ", 1)
    real = find(create_app(Settings(database_url="sqlite+aiosqlite://")), method, path)
    nodes = list(walk(real))
    seen: set[Any] = set()
    repeats = 0
    for node in nodes:
        key = (node.call, node.scope)
        if node.use_cache and key in seen:
            repeats += 1
        seen.add(key)
    found = asyncio.run(measure(bare_app(real), args.rounds, args.calls))
    mirror_us, none_us = statistics.median(found["mirror"]), statistics.median(found["none"])
    # The mirror's tree is the route's plus the one node that hangs it on the bare route.
    per_node = (mirror_us - none_us) / (len(nodes) + 1)
    print(f"{args.route}: {len(nodes)} dependency nodes solved per request, {repeats} of them again")
    for name, values in found.items():
        low, high = min(values), max(values)
        print(f"  {name}: {statistics.median(values):.0f} us of CPU per call ({low:.0f}-{high:.0f})")
    print(f"  the walk: {mirror_us - none_us:.0f} us per request, {per_node:.1f} us per node;")
    print(f"  solving each sub-tree once would save about {repeats * per_node:.0f} us per request")


if __name__ == "__main__":
    main()
