"""How a replayed match request is answered now (app/idempotency/replays.py says why): a claim or
proposal is re-rendered as the caller's side sees the match today; a step only while the match is
still in the status that step gave it, else 409."""

import uuid

from app.core.errors import NotFound
from app.core.etag import etag
from app.idempotency.replays import Fresh, Replaying, Rerender, gone, rendered
from app.matches import messages, service, views
from app.matches.models import Match, MatchStatus, MessageWritten


async def _current(replaying: Replaying, match_id: uuid.UUID) -> tuple[Match, str]:
    try:
        match, _, side = await service.get_match(
            replaying.session, match_id=match_id, caller=replaying.caller
        )
    except NotFound:
        raise gone("the match is no longer visible to you") from None
    return match, side


async def _render(replaying: Replaying, match: Match, side: str) -> Fresh:
    # views.render audits each contact it shows, as a read would.
    view = await views.render(replaying.session, match, side, replaying.caller)
    return rendered(replaying, view, etag=etag(match.version))


async def created(replaying: Replaying) -> Fresh:
    match, side = await _current(replaying, uuid.UUID(replaying.json()["id"]))
    return await _render(replaying, match, side)


def stepped(to: MatchStatus) -> Rerender:
    async def rerender(replaying: Replaying) -> Fresh:
        match, side = await _current(replaying, replaying.path_params["match_id"])
        if match.status != to:
            raise gone(f"the match is {match.status} now, not {to}")
        return await _render(replaying, match, side)

    return rerender


async def message_posted(replaying: Replaying) -> Fresh:
    """The message as it is now (a moderator may have removed its text), while the caller is
    still a side of its match; the helplines of the first answer are public and kept."""
    found = await messages.visible_message(
        replaying.session, message_id=uuid.UUID(replaying.json()["id"]), caller=replaying.caller
    )
    if found is None:
        raise gone("the conversation is no longer visible to you")
    message, match = found
    written = MessageWritten(
        **messages.view(message, match, replaying.caller).model_dump(),
        resources=replaying.json().get("resources", []),
    )
    return rendered(replaying, written)
