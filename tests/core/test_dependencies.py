"""Every dependency a route runs is a coroutine: FastAPI runs a plain `def` one on a worker
thread, and that hand-off (with the GIL's back and forth) cost an anonymous read more than all
of its own Python work."""

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi import routing as fastapi_routing
from fastapi.dependencies.models import Dependant


def _contexts(app: FastAPI) -> Iterator[Any]:
    for route in app.router.routes:
        if isinstance(route, fastapi_routing._IncludedRouter):
            yield from route.effective_route_contexts()
        else:
            yield route


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _runs_in_the_loop(call: Any) -> bool:
    if inspect.isclass(call):  # a body or form model (FastAPI builds it from parsed fields)
        return True
    target = getattr(call, "__call__", None) if not inspect.isfunction(call) else call  # noqa: B004
    return inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)


def test_no_route_runs_a_dependency_on_a_thread(application: FastAPI) -> None:
    seen, threaded = 0, set()
    for context in _contexts(application):
        dependant = getattr(context, "dependant", None)
        if dependant is None:
            continue
        seen += 1
        threaded |= {
            getattr(c, "__qualname__", repr(c)) for c in _calls(dependant) if not _runs_in_the_loop(c)
        }
    assert seen > 80
    assert threaded == set()
