"""Matching a request to its route without trying the routers its path cannot be under.

FastAPI keeps each `include_router` as a branch, and finds a request's route by trying every
route of every branch in order, recursively, once to pick the branch and again inside it; and
before each try it sums the routers' change counters over the whole tree below, to see whether
its list of a branch's routes is still current. With this service's ~150 routes under `/v1`, a
`/healthz` probe tried each of them first, and a `/v1/needs/{id}` read every members', data
rights' and organisations' route two and three times over: matching cost more than everything
else FastAPI did for the request.

Two changes, neither altering which route a request gets:

- A route's pattern is anchored and its text up to the first `{` is literal, so a route can only
  match a path that starts with that text. A branch none of whose routes' literal starts begin
  the path cannot match it, and is skipped with one `str.startswith`; every other branch is
  tried as FastAPI tries it, so what matches (a route, a 405 for another method, a redirect for
  a trailing slash, a 404) is unchanged. A branch holding anything but API routes (a mount, a
  websocket) is always tried. The same check is proposed upstream (fastapi/fastapi#16159).
- The sum of change counters is remembered until a router's routes change: FastAPI counts each
  change in `_mark_routes_changed`, which here also moves a process-wide generation that every
  remembered sum and skip list is checked against.

Both wrap private methods of FastAPI's routers, in every app of the process. The version is
pinned by uv.lock; tests/core/test_routing.py fails if the methods move, and `install` leaves
FastAPI as it is when they are missing (routing then works, only slower).
"""

from typing import Any

from fastapi import routing as fastapi_routing
from fastapi.routing import APIRoute, APIRouter
from starlette._utils import get_route_path
from starlette.routing import Match

_Branch = Any  # fastapi.routing._IncludedRouter: private, so not named in signatures
_STARTS = "_mutual_aid_literal_starts"
_VERSION = "_mutual_aid_routes_version"
_generation = 0  # moves whenever any router's routes change


def literal_start(template: str) -> str:
    """`/v1/needs/` for `/v1/needs/{need_id}`: the text every path the route matches begins with."""
    return template.split("{", 1)[0]


def literal_starts(branch: _Branch) -> tuple[str, ...] | None:
    """The literal starts of every route under `branch`, or None when it holds a route of
    another kind (its paths are then not known from templates)."""
    found: list[str] = []
    for candidate in branch.effective_candidates():
        if isinstance(candidate, fastapi_routing._IncludedRouter):
            inner = literal_starts(candidate)
            if inner is None:
                return None
            found.extend(inner)
            continue
        template = getattr(candidate, "path_format", None)
        if not isinstance(candidate.original_route, APIRoute) or not isinstance(template, str):
            return None
        found.append(literal_start(template))
    return tuple(dict.fromkeys(found))


_Included = getattr(fastapi_routing, "_IncludedRouter", None)
_original_match = getattr(_Included, "_match", None)
_original_version = getattr(APIRouter, "_get_routes_version", None)
_original_changed = getattr(APIRouter, "_mark_routes_changed", None)


def _match(self: _Branch, scope: Any) -> Any:
    cached = self.__dict__.get(_STARTS)
    if cached is None or cached[0] != _generation:
        cached = (_generation, literal_starts(self))
        self.__dict__[_STARTS] = cached
    starts = cached[1]
    if starts is not None and not get_route_path(scope).startswith(starts):
        return Match.NONE, {}, None, None
    return _original_match(self, scope)  # type: ignore[misc]


def _get_routes_version(self: APIRouter, seen: set[int] | None = None) -> int:
    if seen is not None:  # inside FastAPI's own walk of the tree
        return _original_version(self, seen)  # type: ignore[misc,no-any-return]
    cached = self.__dict__.get(_VERSION)
    if cached is None or cached[0] != _generation:
        cached = (_generation, _original_version(self))  # type: ignore[misc]
        self.__dict__[_VERSION] = cached
    return cached[1]  # type: ignore[no-any-return]


def _mark_routes_changed(self: APIRouter) -> None:
    global _generation
    _original_changed(self)  # type: ignore[misc]
    _generation += 1


def warm(app: Any) -> int:
    """Prepare every branch of `app` for matching now; how many branches. FastAPI builds a
    branch's list of routes, and each route's parameter models, when a request first tries it:
    0.4-0.8 s of CPU here, which a server's first request after start-up would wait for (the
    lifespan calls this before the server takes any)."""
    if not installed():  # FastAPI's private parts moved: leave it as it is, as `install` does
        return 0
    branches = 0
    for route in app.router.routes:
        if isinstance(route, fastapi_routing._IncludedRouter):
            route.__dict__[_STARTS] = (_generation, literal_starts(route))
            branches += 1
    return branches


def install() -> bool:
    """Install both (idempotent). False when this FastAPI lacks a method wrapped here."""
    if _Included is None or None in (_original_match, _original_version, _original_changed):
        return False
    _Included._match = _match
    APIRouter._get_routes_version = _get_routes_version  # type: ignore[method-assign]
    APIRouter._mark_routes_changed = _mark_routes_changed  # type: ignore[method-assign]
    return True


def installed() -> bool:
    return (
        _Included is not None
        and _Included._match is _match
        and APIRouter._get_routes_version is _get_routes_version
        and APIRouter._mark_routes_changed is _mark_routes_changed
    )
