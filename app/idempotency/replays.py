"""What a replay answers: only what the caller may see now, never the stored bytes' private data.

A stored response is a snapshot of what the caller was allowed to see when the first request ran:
an accepted claim's answer names the requester's phone. If the match has since been cancelled, or
the caller has lost the role that let them see it, repeating those bytes would hand back private
data the caller no longer has a right to. So a replay (same key, same request) runs the route's
re-renderer instead, which reads the resource from current state and answers in one of two ways:

- re-rendered: the same status code and `Location` as the first answer, the body and `ETag` of the
  resource as it is now, in the caller's current view, audited like any read of what it shows.
  Creates answer this way while the caller can still see what they created (a match, a need):
  the creation itself still holds, and a retrying client needs the id; the body says where the
  resource stands now (a cancelled match shows `cancelled` and no contact).
- 409 problem: the first outcome no longer holds. A step (accept, decline, complete, cancel) whose
  resource has since moved to another status: a 200 with `status: cancelled` for a replayed
  `accept` would let a client that reads status codes believe its acceptance stands. And any
  replay whose resource the caller can no longer see (404 to a read now): a 409 rather than a 404,
  since the request did run; the detail says so without showing anything.

A response that holds nothing private (a public view, ids only) is replayed byte for byte by
registering `verbatim`; an error answer (4xx/5xx) always is (problems carry no personal data). A
route with no re-renderer registered is answered 409 on replay: new routes fail safe, and
`tests/idempotency/test_rights.py` names any that is not classified. The guarantees of the key
itself do not change (app/idempotency/service.py): one effect per key, however many race; the
same key with another request is a 422.
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import Conflict

ENDPOINT = TypeVar("ENDPOINT", bound=Callable[..., Any])


@dataclass(frozen=True)
class Replaying:
    """A keyed request whose first answer is stored: who asks now, and what they were told then."""

    session: AsyncSession
    # An app.auth.callers.Caller: not imported, as auth reaches this package through the members'
    # routes (an import cycle otherwise); re-renderers hand it to their domain's access checks.
    caller: Any
    path_params: dict[str, Any]
    status_code: int
    headers: dict[str, str]  # the stored ones kept for replays: content-type, location, etag
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass(frozen=True)
class Fresh:
    """The answer a replay gives: status and headers as stored unless overridden, a new body."""

    status_code: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


Rerender = Callable[[Replaying], Awaitable[Fresh]]
_BY_ENDPOINT: dict[Callable[..., Any], Rerender] = {}


class OutcomeGone(Conflict):
    slug = "idempotent-outcome-gone"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Idempotent-Replayed": "true"})


def replayed_by(rerender: Rerender) -> Callable[[ENDPOINT], ENDPOINT]:
    """Decorate a POST route (under its `@router.post`) with how its replays are answered."""

    def register(endpoint: ENDPOINT) -> ENDPOINT:
        _BY_ENDPOINT[endpoint] = rerender
        return endpoint

    return register


def rerenderer_of(endpoint: Callable[..., Any] | None) -> Rerender | None:
    return _BY_ENDPOINT.get(endpoint) if endpoint is not None else None


async def verbatim(replaying: Replaying) -> Fresh:
    """For answers that hold nothing the caller could lose the right to see."""
    return Fresh(replaying.status_code, replaying.body, replaying.headers)


def rendered(replaying: Replaying, view: BaseModel, *, etag: str | None = None) -> Fresh:
    """The current view, with the first answer's status code and `Location`."""
    headers = {"content-type": "application/json"}
    if "location" in replaying.headers:
        headers["location"] = replaying.headers["location"]
    if etag is not None:
        headers["etag"] = etag
    return Fresh(replaying.status_code, view.model_dump_json().encode(), headers)


def gone(what: str) -> OutcomeGone:
    return OutcomeGone(
        f"This Idempotency-Key's request was carried out, but {what}: its answer no longer holds "
        "and is not repeated. Read the resource for its current state."
    )


async def answer(endpoint: Callable[..., Any] | None, replaying: Replaying) -> Fresh:
    """The replay's answer; raises OutcomeGone (409) when the first outcome no longer holds."""
    if replaying.status_code >= 400:
        return await verbatim(replaying)
    rerender = rerenderer_of(endpoint)
    if rerender is None:
        raise gone("this operation's answers are not replayed")
    return await rerender(replaying)


async def while_organization_agent(replaying: Replaying) -> Fresh:
    """For an answer that shows an organisation's secret once (an API key, a webhook's signing
    secret): repeated only to a caller who still acts for the organisation in the path."""
    # The path's id as the first request named it: a UUID, or text where the route declares no type.
    organization_id = uuid.UUID(str(replaying.path_params["organization_id"]))
    if not replaying.caller.acts_for(organization_id):
        raise gone("you no longer act for this organization")
    return await verbatim(replaying)
