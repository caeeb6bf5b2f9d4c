"""Member blocks: the one home of the rule "two members either of whom blocked the other never
meet again" (docs/safety.md, Blocks).

Every path that could bring two members together asks here, in one of three forms:

- `hides(session, viewer=, owner=)`: a single read (a need, an offer, a match) is 404 to the
  viewer when it is the owner's and either blocked the other.
- `not_blocked_with(column, member)`: the same as a SQL condition on a column of member ids,
  for lists and searches (`Need.requester_id`, `Offer.volunteer_id`, `Match.volunteer_id`, ...);
  `not_among_blocked_with` likewise, reading the one member's blocks once (candidate searches).
- `blocked_with(session, member_id)` and `blocked_pairs(session, left, right)`: the members
  blocked either way with one member, or among two groups, for code that filters in Python
  (the matching context, app/dispatch/loading.py; rosters and alerts later).

Eligibility (candidates, opportunities, batch runs, claims, proposals) reads these through the
`blocked` rule of app/matching/rules.py. Nobody is told they were blocked: callers answer 404,
as for anything hidden.
"""

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, and_, delete, exists, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import Invalid, NotFound
from app.core.pagination import decode_time_cursor, encode_time_cursor
from app.core.timeutil import utcnow
from app.core.transactions import savepoint
from app.members.models import Member
from app.safety import hooks
from app.safety.models import BlockView, MemberBlock

# Member ids: a collection of them, or a scalar subquery that selects them.
Members = Collection[uuid.UUID] | ScalarSelect[Any]


def _either_way(a: Any, b: Any) -> ColumnElement[bool]:
    """A block row between `a` and `b`, whoever made it (each a column, a parameter or an id)."""
    blocker, blocked = col(MemberBlock.blocker_id), col(MemberBlock.blocked_id)
    return or_(and_(blocker == a, blocked == b), and_(blocker == b, blocked == a))


def not_blocked_with(column: Any, member: Any) -> ColumnElement[bool]:
    """SQL: the member id in `column` and `member` (an id, a bound parameter or another column)
    are not blocked either way. True where either is NULL (a need filed for no member)."""
    return ~exists().where(_either_way(column, member))


def not_among_blocked_with(column: Any, member: Any) -> ColumnElement[bool]:
    """`not_blocked_with` for many rows against one `member` (a parameter): the member's blocks,
    either way, read once as a set rather than probed per row, for a search's many candidates."""
    blocker, blocked = col(MemberBlock.blocker_id), col(MemberBlock.blocked_id)
    theirs = select(blocked).where(blocker == member).union_all(select(blocker).where(blocked == member))
    out: ColumnElement[bool] = column.not_in(theirs)
    return out


async def are_blocked(session: AsyncSession, a: uuid.UUID, b: uuid.UUID) -> bool:
    """Did either of the two block the other?"""
    found = await session.exec(select(MemberBlock.id).where(_either_way(a, b)).limit(1))
    return found.first() is not None


async def may_meet(session: AsyncSession, *, one: uuid.UUID, other: uuid.UUID) -> bool:
    """Neither of two members blocked the other (oneself: always): what organisations ask before
    a coordinator adds a member (app/organizations/hooks.py)."""
    return not await hides(session, viewer=one, owner=other)


async def hides(session: AsyncSession, *, viewer: uuid.UUID | None, owner: uuid.UUID | None) -> bool:
    """Is what `owner` holds hidden from `viewer` by a block? Never for anonymous callers, keys,
    records of no member, or one's own."""
    if viewer is None or owner is None or viewer == owner:
        return False
    return await are_blocked(session, viewer, owner)


async def blocked_with(session: AsyncSession, member_id: uuid.UUID) -> set[uuid.UUID]:
    """Every member who blocked `member_id` or whom `member_id` blocked."""
    rows = await session.exec(
        select(MemberBlock.blocker_id, MemberBlock.blocked_id).where(
            or_(col(MemberBlock.blocker_id) == member_id, col(MemberBlock.blocked_id) == member_id)
        )
    )
    return {b if a == member_id else a for a, b in rows.all()}


def _among(column: Any, members: Members) -> ColumnElement[bool]:
    out: ColumnElement[bool] = column.in_(members if isinstance(members, ScalarSelect) else list(members))
    return out


def _none(members: Members) -> bool:
    return not isinstance(members, ScalarSelect) and not members


async def blocked_pairs(
    session: AsyncSession, left: Members, right: Members
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """Pairs (x, y) blocked either way with x in `left` and y in `right`, or the other way
    round; each pair comes in both orders, so `(requester, volunteer) in pairs` asks the rule."""
    if _none(left) or _none(right):
        return set()
    blocker, blocked = col(MemberBlock.blocker_id), col(MemberBlock.blocked_id)
    rows = await session.exec(
        select(blocker, blocked).where(
            or_(
                and_(_among(blocker, left), _among(blocked, right)),
                and_(_among(blocker, right), _among(blocked, left)),
            )
        )
    )
    return {pair for a, b in rows.all() for pair in ((a, b), (b, a))}


async def _lock(
    session: AsyncSession, member_ids: Collection[uuid.UUID | None], *, share: bool
) -> set[uuid.UUID]:
    """Row-lock these members, in id order (so two lockers never wait on each other in a
    circle); the ids that exist.

    Exclusive is FOR NO KEY UPDATE, not FOR UPDATE: it still waits for every FOR SHARE (`hold`)
    and excludes other blockers, but not the KEY SHARE lock a foreign key takes on a member's
    row when a notification, counter or message naming them is inserted. With FOR UPDATE a
    block, which then locks the pair's matches to end them, and a match step, which locks the
    match and then inserts its notifications, waited on each other: a deadlock, answered 503."""
    ids = sorted({m for m in member_ids if m is not None})
    if not ids:
        return set()
    stmt = select(Member.id).where(col(Member.id).in_(ids)).order_by(col(Member.id))
    return set((await session.exec(stmt.with_for_update(read=share, key_share=not share))).all())


async def hold(session: AsyncSession, member_ids: Collection[uuid.UUID | None]) -> None:
    """Before deciding that people may meet (a claim, a proposal, a run's proposals): until this
    transaction ends, no block between them can be made (FOR SHARE against a block's FOR NO
    KEY UPDATE). So a new match is either refused because the block came first, or made first and
    then ended by the block; never made after a block that missed it."""
    await _lock(session, member_ids, share=True)


async def block(session: AsyncSession, *, blocker_id: uuid.UUID, blocked_id: uuid.UUID) -> None:
    """`blocker_id` blocks `blocked_id`: their open matches end now, in this transaction.

    Idempotent. Errors: 422 for oneself, 404 for a member id that does not exist."""
    if blocker_id == blocked_id:
        raise Invalid("You cannot block yourself.", loc=["path", "member_id"])
    # Waits for any claim or proposal between them that holds them (`hold`) to commit.
    if blocked_id not in await _lock(session, [blocker_id, blocked_id], share=False):
        raise NotFound("No such member.")
    try:
        async with savepoint(session):
            session.add(MemberBlock(blocker_id=blocker_id, blocked_id=blocked_id))
    except IntegrityError:
        pass  # already blocked (the unique index settles two PUTs at once): nothing changes
    await hooks.parted()(session, members=(blocker_id, blocked_id), now=utcnow())


async def unblock(session: AsyncSession, *, blocker_id: uuid.UUID, blocked_id: uuid.UUID) -> None:
    """Lift the caller's own block, if there is one (a block the other made stays). Ended
    matches stay ended."""
    await session.exec(
        delete(MemberBlock).where(
            col(MemberBlock.blocker_id) == blocker_id, col(MemberBlock.blocked_id) == blocked_id
        )
    )


async def list_blocks(
    session: AsyncSession, *, blocker_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[BlockView], str | None]:
    """The members `blocker_id` blocked, newest block first, with a cursor when more follow."""
    stmt = (
        select(MemberBlock.id, MemberBlock.blocked_id, MemberBlock.created_at, Member.display_name)
        .join(Member, col(Member.id) == col(MemberBlock.blocked_id))
        .where(col(MemberBlock.blocker_id) == blocker_id)
    )
    if cursor:
        when, last = decode_time_cursor(cursor)
        made = col(MemberBlock.created_at)
        stmt = stmt.where(or_(made < when, and_(made == when, col(MemberBlock.id) < last)))
    stmt = stmt.order_by(col(MemberBlock.created_at).desc(), col(MemberBlock.id).desc()).limit(limit + 1)
    rows = (await session.exec(stmt)).all()
    items = [BlockView(member_id=member, display_name=name, created_at=at) for _, member, at, name in rows]
    if len(rows) <= limit:
        return items, None
    last_id, _, last_at, _ = rows[limit - 1]
    return items[:limit], encode_time_cursor(last_at, last_id)
