"""Sessions: a login's rotating refresh tokens, their reuse detection, and revocation.

A refresh token is used once: refreshing marks it rotated and issues the next. Presenting a
rotated token again means two parties hold the family (a thief, or a replayed request), so the
whole session is revoked (OAuth 2.0 Security BCP, refresh token rotation) and both must log in."""

import re
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.among import among
from app.core.config import Settings
from app.core.errors import Unauthorized
from app.core.pagination import decode_time_cursor, encode_time_cursor
from app.core.security import create_access_token, hash_token, new_secret_token
from app.core.timeutil import utcnow
from app.core.transactions import commit_own
from app.members.accounts import MemberSession, RefreshToken
from app.members.models import Member
from app.members.service import Suspended
from app.members.suspension import is_suspended

REFRESH_PREFIX = "rt_"

# First match wins: Edge and Opera name Chrome too, Chrome names Safari.
_BROWSERS = (
    ("Edge", r"Edg(e|A|iOS)?/"),
    ("Opera", r"OPR/|Opera"),
    ("Firefox", r"Firefox/|FxiOS/"),
    ("Chrome", r"Chrome/|CriOS/"),
    ("Safari", r"Safari/"),
)
_SYSTEMS = (
    ("Android", r"Android"),
    ("iOS", r"iPhone|iPad|iPod"),
    ("Windows", r"Windows"),
    ("macOS", r"Mac OS X|Macintosh"),
    ("Linux", r"Linux|X11"),
)


def coarse_user_agent(raw: str | None) -> str:
    """`Firefox on Linux`: the family and system only, so the list helps a member recognise a
    device without keeping a fingerprint (versions, build ids) or anything the client made up."""
    raw = raw or ""
    browser = next((name for name, pattern in _BROWSERS if re.search(pattern, raw)), None)
    system = next((name for name, pattern in _SYSTEMS if re.search(pattern, raw)), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown client"


@dataclass(frozen=True)
class Issued:
    access_token: str
    refresh_token: str
    expires_in: int


async def _issue(session: AsyncSession, row: MemberSession, settings: Settings, now: datetime) -> Issued:
    token, digest = new_secret_token()
    session.add(RefreshToken(token_hash=digest, session_id=row.id, created_at=now))
    await session.flush()
    return Issued(
        access_token=create_access_token(row.member_id, row.id, settings),
        refresh_token=REFRESH_PREFIX + token,
        expires_in=settings.access_token_ttl_seconds,
    )


async def start(
    session: AsyncSession, *, member: Member, user_agent: str | None, settings: Settings
) -> Issued:
    """A new session for a member who just proved who they are."""
    now = utcnow()
    row = MemberSession(
        member_id=member.id,
        user_agent=coarse_user_agent(user_agent),
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(seconds=settings.refresh_token_ttl_seconds),
    )
    session.add(row)
    await session.flush()
    return await _issue(session, row, settings, now)


_REFUSED = "The refresh token is invalid, expired or already used; log in again."


def live(now: datetime) -> ColumnElement[bool]:
    """A session that still lets its tokens in: not revoked (a logout, a password change, the
    member ending it, a spent refresh token presented again) and not expired."""
    return and_(col(MemberSession.revoked_at).is_(None), col(MemberSession.expires_at) > now)


async def ended_among(session: AsyncSession, *, session_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Of `session_ids`, those no longer `live` (or gone), in one query per chunk of ids: how a
    process checks the logins behind all its open notification streams at once."""
    ids, now = set(session_ids), utcnow()
    alive: set[uuid.UUID] = set()
    for condition in among(col(MemberSession.id), ids, dialect=session.get_bind().dialect.name):
        alive.update((await session.exec(select(MemberSession.id).where(condition, live(now)))).all())
    return ids - alive


async def refresh(session: AsyncSession, *, token: str, settings: Settings) -> Issued:
    """Rotate: the token is spent and a new pair issued. Raises Unauthorized for an unknown or
    expired token, a revoked session, or a member suspended now or erased; a spent token also
    revokes its session first, and commits that (the refresh has written nothing else) so the
    401 cannot roll it back."""
    now = utcnow()
    digest = hash_token(token.removeprefix(REFRESH_PREFIX))
    # The conditional UPDATE is the claim: of two refreshes with one token, only one rotates it.
    spent = await session.exec(
        update(RefreshToken)
        .where(
            col(RefreshToken.token_hash) == digest,
            col(RefreshToken.rotated_at).is_(None),
            col(RefreshToken.session_id).in_(select(MemberSession.id).where(live(now))),
        )
        .values(rotated_at=now)
    )
    if spent.rowcount != 1:
        await _revoke_on_reuse(session, digest, now)
        raise Unauthorized(_REFUSED)
    row, member = (
        await session.exec(
            select(MemberSession, Member)
            .join(RefreshToken)
            .join(Member, col(Member.id) == col(MemberSession.member_id))
            .where(col(RefreshToken.token_hash) == digest)
        )
    ).one()
    if member.erased_at is not None:
        raise Unauthorized(_REFUSED)
    if is_suspended(member, now):
        # As at login: no new access token, nor a session made to last longer, while suspended.
        # The rotation rolls back with this answer, so the token works again once reinstated.
        raise Suspended()
    row.last_used_at = now
    row.expires_at = now + timedelta(seconds=settings.refresh_token_ttl_seconds)
    session.add(row)
    return await _issue(session, row, settings, now)


async def _revoke_on_reuse(session: AsyncSession, digest: str, now: datetime) -> None:
    reused = select(RefreshToken.session_id).where(
        col(RefreshToken.token_hash) == digest, col(RefreshToken.rotated_at).is_not(None)
    )
    revoked = await session.exec(
        update(MemberSession)
        .where(col(MemberSession.id).in_(reused), col(MemberSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    if revoked.rowcount:
        await commit_own(session)


async def member_of(session: AsyncSession, *, member_id: uuid.UUID, session_id: uuid.UUID) -> Member | None:
    """The member, if this session of theirs is live: one query, on every request, so a
    revocation holds from the very next request (no cache outlives it)."""
    now = utcnow()
    result = await session.exec(
        select(Member)
        .join(MemberSession, col(MemberSession.member_id) == col(Member.id))
        .where(
            col(Member.id) == member_id,
            col(MemberSession.id) == session_id,
            live(now),
        )
    )
    return result.first()


async def revoke(session: AsyncSession, *, member_id: uuid.UUID, session_id: uuid.UUID) -> bool:
    """End one of the member's sessions; False when they have no such live session."""
    result = await session.exec(
        update(MemberSession)
        .where(
            col(MemberSession.id) == session_id,
            col(MemberSession.member_id) == member_id,
            col(MemberSession.revoked_at).is_(None),
        )
        .values(revoked_at=utcnow())
    )
    return bool(result.rowcount == 1)


async def revoke_all(session: AsyncSession, *, member_id: uuid.UUID, keep: uuid.UUID | None = None) -> None:
    """End every session of the member's, but `keep` (the one changing the password)."""
    conditions = [col(MemberSession.member_id) == member_id, col(MemberSession.revoked_at).is_(None)]
    if keep is not None:
        conditions.append(col(MemberSession.id) != keep)
    await session.exec(update(MemberSession).where(*conditions).values(revoked_at=utcnow()))


async def list_live(
    session: AsyncSession, *, member_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[MemberSession], str | None]:
    """The member's live sessions, newest first; `(rows, next_cursor)`."""
    query = select(MemberSession).where(col(MemberSession.member_id) == member_id, live(utcnow()))
    if cursor is not None:
        at, last_id = decode_time_cursor(cursor)
        query = query.where(
            or_(
                col(MemberSession.created_at) < at,
                and_(col(MemberSession.created_at) == at, col(MemberSession.id) < last_id),
            )
        )
    query = query.order_by(col(MemberSession.created_at).desc(), col(MemberSession.id).desc())
    rows = list((await session.exec(query.limit(limit + 1))).all())
    if len(rows) > limit:
        return rows[:limit], encode_time_cursor(rows[limit - 1].created_at, rows[limit - 1].id)
    return rows, None
