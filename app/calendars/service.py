"""A member's calendar feed: its secret URL made, replaced and revoked, and the document a
calendar app fetches with it (no login: the token is the credential, kept only as its hash)."""

import uuid
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit import service as audit
from app.auth.callers import Caller
from app.calendars import feed
from app.calendars.models import CalendarFeed
from app.core import ical
from app.core.security import hash_token, new_secret_token
from app.core.timeutil import utcnow
from app.members.models import Member
from app.members.suspension import is_suspended

# A token is 43 URL-safe characters (256 bits); anything much longer is not one of ours.
MAX_TOKEN_CHARS = 100


async def create_feed(session: AsyncSession, *, member_id: uuid.UUID) -> tuple[str, CalendarFeed]:
    """(the new token, its row): a new feed, or a new token for the member's feed, which ends the
    old URL in the same statement (one upsert, so two creates at once leave one token)."""
    token, digest = new_secret_token()
    now = utcnow()
    builder = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = builder(CalendarFeed).values(member_id=member_id, token_hash=digest, created_at=now)
    replace = {"token_hash": digest, "created_at": now}
    await session.exec(stmt.on_conflict_do_update(index_elements=["member_id"], set_=replace))
    row = await session.get(CalendarFeed, member_id, populate_existing=True)
    assert row is not None  # just written
    return token, row


async def current_feed(session: AsyncSession, *, member_id: uuid.UUID) -> CalendarFeed | None:
    return await session.get(CalendarFeed, member_id)


async def revoke_feed(session: AsyncSession, *, member_id: uuid.UUID) -> None:
    """The feed's URL stops working from the next fetch (nothing to revoke is not an error)."""
    await session.exec(delete(CalendarFeed).where(col(CalendarFeed.member_id) == member_id))


async def is_current(session: AsyncSession, *, member_id: uuid.UUID, token: str) -> bool:
    """Is `token` the member's feed token now (not replaced or revoked since)?"""
    row = await current_feed(session, member_id=member_id)
    return row is not None and row.token_hash == hash_token(token)


async def member_of(session: AsyncSession, *, token: str, now: datetime) -> Member | None:
    """The member whose feed this token opens; None for an unknown, replaced or revoked token,
    and for a member suspended or erased (their feed shows nothing to anyone)."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    stmt = (
        select(Member)
        .join(CalendarFeed, col(CalendarFeed.member_id) == col(Member.id))
        .where(col(CalendarFeed.token_hash) == hash_token(token))
    )
    member = (await session.exec(stmt)).first()
    if member is None or member.erased_at is not None or is_suspended(member, now):
        return None
    return member


async def document(session: AsyncSession, *, member: Member, now: datetime) -> bytes:
    """The member's VCALENDAR as it stands now. A volunteer's entry shows the need's address and
    point, so it is audited as any read of them (reason `participant`), in this transaction."""
    entries = await feed.activity_entries(session, member_id=member.id)
    shown = []
    for match, need in await feed.accepted_matches(session, member_id=member.id):
        entry = feed.match_entry(match, need, now=now)
        if entry is None:
            continue
        entries.append(entry)
        exposed = feed.shown_to_volunteer(match, need, member.id)
        if exposed is not None:
            shown.append(exposed)
    await audit.record(session, caller=Caller(member=member), needs=shown)
    return ical.document(entries, prodid=feed.PRODID, now=now, name="Mutual aid")
