"""`Idempotency-Key` on every POST under /v1: the dependency that claims or replays a key, and
the wiring that installs it (middleware, replay handler, OpenAPI).

Scope: a member's keys are theirs, an API key's are its own. Anonymous calls (sign-up, login)
are never stored: an address is not an identity (a library or a shelter shares one, a phone
changes it), so scoping by it would let strangers collide; sign-up is already safe to retry (a
repeat finds the email taken and changes nothing), and a login's response is an access token,
which must never be at rest, not even sealed.
"""

import time
from datetime import timedelta

from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute

from app.auth.deps import AnyCaller
from app.core.config import Settings
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import Invalid
from app.core.timeutil import utcnow
from app.core.transactions import commit_own
from app.idempotency import replays, service
from app.idempotency.middleware import IdempotencyMiddleware, exchange_of
from app.idempotency.openapi import document, stored_for
from app.idempotency.sealing import derive, fingerprint, server_pepper

MAX_KEY_LENGTH = 255
PURGE_EVERY_SECONDS = 60.0


class Replay(Exception):
    def __init__(self, fresh: replays.Fresh) -> None:
        super().__init__("replayed")
        self.fresh = fresh


def parse_key(values: list[str]) -> str:
    where: list[str | int] = ["header", "Idempotency-Key"]
    if len(values) != 1:
        raise Invalid("Send one Idempotency-Key header, not several.", loc=where)
    key = values[0]
    if not (1 <= len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()):
        raise Invalid("Idempotency-Key must be 1 to 255 printable ASCII characters.", loc=where)
    return key


def _stored_here(request: Request) -> bool:
    route = request.scope.get("route")
    return stored_for(route.openapi_extra if isinstance(route, APIRoute) else None)


async def _replay_now(
    request: Request, caller: AnyCaller, session: SessionDep, stored: service.Stored
) -> Replay:
    """The stored answer, re-checked against what the caller may see now (app/idempotency/replays.py).
    The read's audit rows commit here, with the answer that shows what they record: the replay
    ends the request, and the request's own commit would never run."""
    route = request.scope.get("route")
    replaying = replays.Replaying(
        session=session,
        caller=caller,
        path_params=dict(request.path_params),
        status_code=stored.status_code,
        headers=dict(stored.headers),
        body=stored.body,
    )
    fresh = await replays.answer(route.endpoint if isinstance(route, APIRoute) else None, replaying)
    await commit_own(session)
    return Replay(fresh)


def policy(settings: Settings) -> service.Policy:
    return service.Policy(
        ttl=timedelta(seconds=settings.idempotency_key_ttl_seconds),
        lease=timedelta(seconds=settings.idempotency_lease_seconds),
        wait_seconds=settings.idempotency_wait_seconds,
    )


async def _purge_now_and_then(request: Request, session: SessionDep) -> None:
    state = request.app.state
    if time.monotonic() < getattr(state, "idempotency_next_purge", 0.0):
        return
    state.idempotency_next_purge = time.monotonic() + PURGE_EVERY_SECONDS
    await service.purge(session, now=utcnow())


async def idempotency(
    request: Request, caller: AnyCaller, session: SessionDep, settings: SettingsDep
) -> None:
    """Runs on every /v1 call; acts on a POST that carries an Idempotency-Key."""
    exchange = exchange_of(request)
    if exchange is None:
        return
    key = parse_key(request.headers.getlist("Idempotency-Key"))
    if caller.is_anonymous or not _stored_here(request):
        return
    material = derive(server_pepper(settings.jwt_secret), scope=caller.identity, key=key)
    request_print = fingerprint(
        material,
        method=request.method,
        path=request.url.path,
        query=request.scope.get("query_string", b""),
        body=await exchange.read_body(request),
    )
    await _purge_now_and_then(request, session)
    outcome = await service.acquire(
        session, scope=caller.identity, material=material, fingerprint=request_print, policy=policy(settings)
    )
    if isinstance(outcome, service.Stored):
        raise await _replay_now(request, caller, session, outcome)
    exchange.own(outcome, session)


async def _replay(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Replay)
    fresh = exc.fresh
    headers = {**fresh.headers, "Idempotent-Replayed": "true"}
    return Response(content=fresh.body, status_code=fresh.status_code, headers=headers)


def install(app: FastAPI, settings: Settings) -> None:
    """The middleware and the replay handler; the dependency itself goes on the /v1 router."""
    app.add_middleware(IdempotencyMiddleware, prefix="/v1/")
    app.add_exception_handler(Replay, _replay)
    document(app, ttl_hours=settings.idempotency_key_ttl_seconds // 3600)
