"""ASGI middleware that sees what the idempotency dependency cannot: the raw request body (for
the fingerprint) and the response bytes (to keep for replays, or to release the key on a 5xx).

The dependency decides whether this request owns a key (it knows the caller); the middleware
then holds the response until it is stored, so a replay can never miss a response its client
has already seen.
"""

import logging
from dataclasses import dataclass, field
from typing import Any

import anyio
from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import event
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import PROBLEM_JSON, UNHANDLED_DETAIL, problem_body
from app.idempotency import service

log = logging.getLogger(__name__)
STATE_KEY = "idempotency"
HEADER = b"idempotency-key"
# What a replay must repeat besides status and body; per-call headers (rate limits) are not kept.
KEPT_HEADERS = {b"content-type", b"location", b"etag"}


def released(status_code: int, *, committed: bool) -> bool:
    """5xx: the client should retry and the retry must run. 422: the request was refused before
    anything changed, so a corrected retry may reuse the key (as Stripe does). But once the route
    has committed a change, the answer is kept whatever it is: running it again would do the
    change twice (Stripe keeps 5xx answers too)."""
    return not committed and (status_code >= 500 or status_code == 422)


@dataclass
class Exchange:
    """One keyed POST: its body as received, and the claim the dependency took for it."""

    body: bytearray = field(default_factory=bytearray)
    body_complete: bool = False
    claim: service.Claim | None = None
    session: AsyncSession | None = None
    # Whether the request's transaction committed after the key was claimed.
    committed: bool = False

    async def read_body(self, request: Request) -> bytes:
        if not self.body_complete:
            await request.body()  # the route did not read it: drain it through our receive
        return bytes(self.body)

    def own(self, claim: service.Claim, session: AsyncSession) -> None:
        # The request's own session: finishing must not need a second pooled connection.
        self.claim, self.session = claim, session
        event.listen(session.sync_session, "after_commit", self._on_commit)

    def _on_commit(self, session: Any) -> None:
        # A released savepoint commits nothing yet; only the request's own commit does.
        if not session.in_nested_transaction():
            self.committed = True

    def let_go(self) -> tuple[service.Claim | None, AsyncSession | None]:
        """Stop watching the session (finishing commits on it too) and hand back the claim."""
        claim, session, self.claim = self.claim, self.session, None
        if session is not None and event.contains(session.sync_session, "after_commit", self._on_commit):
            event.remove(session.sync_session, "after_commit", self._on_commit)
        return claim, session


def exchange_of(request: Request) -> Exchange | None:
    exchange = request.scope.get("state", {}).get(STATE_KEY)
    return exchange if isinstance(exchange, Exchange) else None


def _applies(scope: Scope, prefix: str) -> bool:
    return (
        scope["type"] == "http"
        and scope["method"] == "POST"
        and str(scope["path"]).startswith(prefix)
        and any(name.lower() == HEADER for name, _ in scope["headers"])
    )


async def _finish(exchange: Exchange, start: Message, body: bytes) -> None:
    claim, session = exchange.let_go()
    assert claim is not None
    assert session is not None
    status_code = int(start["status"])
    try:
        await session.rollback()  # anything the route left uncommitted is void, as closing would make it
        if released(status_code, committed=exchange.committed):
            await service.release(session, claim)
            return
        headers = [
            (name.decode("latin-1").lower(), value.decode("latin-1"))
            for name, value in start["headers"]
            if name.lower() in KEPT_HEADERS
        ]
        if not await service.complete(session, claim, status_code=status_code, headers=headers, body=body):
            log.warning("idempotency claim was taken over before its response could be stored")
    except Exception:
        # The work is done and the client must hear of it; the key stays claimed until its lease ends.
        log.exception("could not store or release an idempotent response")


async def _abandon(exchange: Exchange, path: str) -> None:
    """The request failed without a response (an exception, answered 500 by the outermost
    handler): release the key for a retry, unless the route had already committed its change;
    then the 500 the client saw is kept, so a retry cannot do the change a second time."""
    claim, session = exchange.let_go()
    if claim is None or session is None:
        return
    with anyio.CancelScope(shield=True):
        try:
            await session.rollback()
            if not exchange.committed:
                await service.release(session, claim)
                return
            problem = problem_body(500, UNHANDLED_DETAIL, instance=path).model_dump(exclude_none=True)
            body = bytes(JSONResponse(problem).body)
            headers = [("content-type", PROBLEM_JSON)]
            await service.complete(session, claim, status_code=500, headers=headers, body=body)
        except Exception:
            log.exception("could not release or keep an idempotency key after a failed request")


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, prefix: str = "/v1/") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _applies(scope, self.prefix):
            await self.app(scope, receive, send)
            return
        exchange = Exchange()
        scope.setdefault("state", {})[STATE_KEY] = exchange
        start: Message | None = None
        chunks: list[bytes] = []

        async def teed_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                exchange.body += message.get("body", b"")
                exchange.body_complete = not message.get("more_body", False)
            return message

        async def held_send(message: Message) -> None:
            nonlocal start
            if exchange.claim is None:
                await send(message)
            elif message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    assert start is not None
                    whole = b"".join(chunks)
                    await _finish(exchange, start, whole)
                    await send(start)
                    await send({"type": "http.response.body", "body": whole})
            else:
                await send(message)

        try:
            await self.app(scope, teed_receive, held_send)
        finally:
            await _abandon(exchange, str(scope["path"]))
