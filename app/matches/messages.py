"""Messages on a match: who may read and write them, paging, and telling the other side.

The two sides are the volunteer and the need's side: its requester, or for an organisation's
need filed for someone (no requester) the organisation's coordinators as their roles are now.
Nobody else (another coordinator, an API key, a stranger) learns a conversation exists: 404.
A coordinator's reads are audited as reads of the need's private data; a member's own are not.
"""

import uuid
from datetime import datetime

from sqlalchemy import and_, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit import service as audit
from app.auth.callers import Caller
from app.core.errors import Conflict, NotFound
from app.core.pagination import decode_time_cursor, encode_time_cursor
from app.core.timeutil import utcnow
from app.matches import service
from app.matches.models import ACTIVE, Match, Message, MessageSide, MessageView
from app.needs.models import Need
from app.notifications import service as notifications
from app.safety import blocks

MESSAGE_CREATED = "message.created"
_NO_MATCH = "No such match."


async def conversant(
    session: AsyncSession, *, match_id: uuid.UUID, caller: Caller
) -> tuple[Match, Need, str]:
    """The match, its need and the caller's side, when the caller is one of the two sides; NotFound
    otherwise, and when either person is blocked with the caller (as `service.get_match`)."""
    if caller.member_id is None:
        raise NotFound(_NO_MATCH)
    match, need, side = await service.get_match(session, match_id=match_id, caller=caller)
    if side == service.NEED_SIDE and not _speaks_for_need(match, caller):
        raise NotFound(_NO_MATCH)
    return match, need, side


def _speaks_for_need(match: Match, caller: Caller) -> bool:
    if match.requester_id is not None:
        return caller.member_id == match.requester_id
    return caller.member_id is not None and caller.acts_for(match.organization_id)


def view(message: Message, match: Match, caller: Caller) -> MessageView:
    author = MessageSide.volunteer if message.author_id == match.volunteer_id else MessageSide.need
    return MessageView(
        id=message.id,
        match_id=message.match_id,
        author_side=author,
        mine=message.author_id == caller.member_id,
        body=message.body,
        removed=message.removed_at is not None,
        created_at=message.created_at,
    )


async def post(
    session: AsyncSession, *, match_id: uuid.UUID, caller: Caller, body: str
) -> tuple[Message, Match]:
    """Write a message on a proposed or accepted match and notify the other side
    (`message.created`: ids only, never the text). NotFound (not a side, or blocked with the
    other), Conflict (the match has ended: its messages are read-only)."""
    found = await session.get(Match, match_id)
    if found is not None:
        # Held until commit: a block between these people waits for this message, or comes first
        # and this write is refused (app.safety.blocks.hold).
        await blocks.hold(session, [caller.member_id, found.volunteer_id, found.requester_id])
    match, _, side = await conversant(session, match_id=match_id, caller=caller)
    # A shared lock on the match: a step ending it waits for this message, or ends it first.
    locked = select(Match.status).where(col(Match.id) == match.id).with_for_update(read=True)
    status = (await session.exec(locked)).one()
    if status not in ACTIVE:
        raise Conflict(f"The match is {status}: its messages can be read but not added to.")
    assert caller.member_id is not None  # conversant admits members only
    message = Message(match_id=match.id, author_id=caller.member_id, body=body, created_at=utcnow())
    session.add(message)
    await session.flush()
    if side == service.VOLUNTEER_SIDE:
        recipients = await service.need_side_people(session, match)
    else:
        recipients = [match.volunteer_id]
    data = {"match_id": str(match.id), "need_id": str(match.need_id), "message_id": str(message.id)}
    await notifications.notify(
        session, recipients=recipients, type=MESSAGE_CREATED, data=data, actor=caller.member_id
    )
    return message, match


async def page(
    session: AsyncSession, *, match_id: uuid.UUID, caller: Caller, limit: int, cursor: str | None
) -> tuple[list[MessageView], str | None]:
    """The match's messages, oldest first (the order a conversation reads), `limit` at a time;
    the cursor is the last one returned. A coordinator's read is audited when it shows any text."""
    match, _, _ = await conversant(session, match_id=match_id, caller=caller)
    stmt = select(Message).where(col(Message.match_id) == match.id)
    if cursor:
        when, last = decode_time_cursor(cursor)
        made = col(Message.created_at)
        stmt = stmt.where(or_(made > when, and_(made == when, col(Message.id) > last)))
    stmt = stmt.order_by(col(Message.created_at), col(Message.id)).limit(limit + 1)
    rows = list((await session.exec(stmt)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    await _audit(session, match, caller, rows)
    next_cursor = encode_time_cursor(rows[-1].created_at, rows[-1].id) if more else None
    return [view(r, match, caller) for r in rows], next_cursor


async def _audit(session: AsyncSession, match: Match, caller: Caller, shown: list[Message]) -> None:
    """A coordinator reading a conversation they are not in is a read of private data: one row."""
    if caller.member_id in (match.volunteer_id, match.requester_id) or not any(m.body for m in shown):
        return
    event = audit.contact_event(
        caller,
        need_id=match.need_id,
        organization_id=match.organization_id,
        member_id=match.volunteer_id,
        field="messages",
    )
    await audit.add_events(session, [event] if event is not None else [])


async def one(
    session: AsyncSession, *, match_id: uuid.UUID, message_id: uuid.UUID, caller: Caller
) -> MessageView:
    """One message of the match, for its sides (NotFound otherwise, or when not of this match)."""
    match, _, _ = await conversant(session, match_id=match_id, caller=caller)
    message = await session.get(Message, message_id)
    if message is None or message.match_id != match.id:
        raise NotFound("No such message.")
    await _audit(session, match, caller, [message])
    return view(message, match, caller)


async def visible_message(
    session: AsyncSession, *, message_id: uuid.UUID, caller: Caller
) -> tuple[Message, Match] | None:
    """The message when the caller is a side of its match (and not blocked); None otherwise."""
    message = await session.get(Message, message_id)
    if message is None:
        return None
    try:
        match, _, _ = await conversant(session, match_id=message.match_id, caller=caller)
    except NotFound:
        return None
    return message, match


async def remove(session: AsyncSession, *, message_id: uuid.UUID, now: datetime) -> None:
    """A moderator's removal: the text is erased, the row stays (so the thread keeps its shape)."""
    await session.exec(
        update(Message)
        .where(col(Message.id) == message_id, col(Message.removed_at).is_(None))
        .values(body=None, removed_at=now)
    )
