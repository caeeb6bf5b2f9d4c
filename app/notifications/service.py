"""The one trigger every domain calls (`notify`), the inbox, and members' notification settings."""

import uuid
from collections.abc import Collection, Iterable, Mapping
from datetime import date
from typing import Any

from sqlalchemy import ARRAY, Text, bindparam, func, insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.among import among
from app.core.pagination import decode_seq_cursor, encode_cursor
from app.core.timeutil import utcnow
from app.members.models import Member
from app.notifications import channels
from app.notifications.models import (
    AlertAllowance,
    Alerts,
    MarkRead,
    Notification,
    NotificationCounter,
    NotificationSettings,
    NotificationSettingsBody,
    NotificationSettingsView,
    uuid7,
)

# Postgres LISTEN/NOTIFY channel that wakes open streams; the payload is the recipient's id.
CHANNEL = "mutual_aid_notifications"


async def notify(
    session: AsyncSession,
    *,
    recipients: Iterable[uuid.UUID | None],
    type: str,
    data: Mapping[str, Any],
    actor: uuid.UUID | None,
) -> list[uuid.UUID]:
    """Tell each recipient that `type` happened: one inbox row each, in the caller's transaction
    (flushed, never committed: a rollback takes the notifications with the change).

    - `recipients`: member ids; None and repeats are dropped, and so is `actor`, the member
      whose action this is (nobody is notified of their own action). `actor` is None when no
      member acted (an API key, the system).
    - `type`: a dotted name, at most 40 characters (`match.accepted`).
    - `data`: JSON-able ids and public facts only: never an address, phone, exact location or
      message text, since it reaches mail, push and lock screens.

    Each recipient's mail and push (by their settings: app.notifications.channels) are queued
    in the outbox in the same transaction; quiet hours delay those, never the inbox row.

    Returns the new notifications' ids. Each recipient's counter row stays locked until the
    transaction ends, so one member's notifications commit in `seq` order; rows are taken in id
    order, so two transactions notifying the same people cannot deadlock. On Postgres, open
    streams are woken at commit (NOTIFY is transactional: a rollback sends nothing)."""
    members = sorted({r for r in recipients if r is not None and r != actor})
    if not members:
        return []
    now, payload = utcnow(), dict(data)
    postgres = session.get_bind().dialect.name == "postgresql"
    with session.no_autoflush:  # the caller's pending rows fail at its own flush, not here
        # Three statements however many recipients (an alert's fan-out may name hundreds).
        seqs = await _next_seqs(session, members, postgres=postgres)
        ids = [uuid7() for _ in members]
        rows = [
            {"id": i, "member_id": m, "seq": seqs[m], "type": type, "data": payload, "created_at": now}
            for i, m in zip(ids, members, strict=True)
        ]
        await session.exec(insert(Notification).values(rows))
        # Mail and push, by each recipient's settings, into the outbox in this same transaction.
        created = [channels.Created(id=i, member_id=m) for i, m in zip(ids, members, strict=True)]
        await channels.deliver(session, created=created, type=type, data=payload, now=now)
        if postgres:
            woken = func.unnest(bindparam("woken", [str(m) for m in members], type_=ARRAY(Text())))
            await session.exec(select(func.pg_notify(CHANNEL, woken.column_valued())))
    return ids


async def _next_seqs(
    session: AsyncSession, members: list[uuid.UUID], *, postgres: bool
) -> dict[uuid.UUID, int]:
    """Add 1 to each member's counter (creating it at 1), locking the rows in the given (id)
    order, in one statement; each member's new value."""
    builder = pg_insert if postgres else sqlite_insert
    upsert = builder(NotificationCounter).values([{"member_id": m, "last_seq": 1} for m in members])
    stmt = upsert.on_conflict_do_update(
        index_elements=["member_id"], set_={"last_seq": col(NotificationCounter.last_seq) + 1}
    ).returning(col(NotificationCounter.member_id), col(NotificationCounter.last_seq))
    return {member: int(seq) for member, seq in (await session.exec(stmt)).all()}


async def _next_seq(session: AsyncSession, member_id: uuid.UUID, *, postgres: bool, step: int = 1) -> int:
    """Add `step` to the member's counter (creating it at `step`), locking its row; the new value."""
    builder = pg_insert if postgres else sqlite_insert
    upsert = builder(NotificationCounter).values(member_id=member_id, last_seq=step)
    stmt = upsert.on_conflict_do_update(
        index_elements=["member_id"], set_={"last_seq": col(NotificationCounter.last_seq) + step}
    ).returning(col(NotificationCounter.last_seq))
    return int((await session.exec(stmt)).one()[0])


async def take_alerts(
    session: AsyncSession, *, members: Iterable[uuid.UUID], day: date, per_day: int
) -> set[uuid.UUID]:
    """Of `members`, those who may get one more alert on `day` (UTC), each counted now: one
    conditional upsert (INSERT ... ON CONFLICT DO UPDATE ... WHERE sent < per_day RETURNING), so
    the cap holds however many transactions alert the same member at once."""
    wanted = sorted(set(members))  # one order, so two fan-outs cannot deadlock on these rows
    if not wanted or per_day < 1:
        return set()
    builder = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    upsert = builder(AlertAllowance).values([{"member_id": m, "day": day, "sent": 1} for m in wanted])
    sent = col(AlertAllowance.sent)
    stmt = upsert.on_conflict_do_update(
        index_elements=["member_id", "day"], set_={"sent": sent + 1}, where=sent < per_day
    ).returning(col(AlertAllowance.member_id))
    return {row[0] for row in (await session.exec(stmt)).all()}


async def hold_allowances(session: AsyncSession, *, members: Iterable[uuid.UUID], day: date) -> None:
    """Lock these members' alert allowance rows for `day` (made at 0 if absent), in id order,
    until the transaction ends, taking none of the day's alerts: what a fan-out takes before it
    reads which needs they were told of, so two fan-outs count each other (app.dispatch.alerts)."""
    wanted = sorted(set(members))
    if not wanted:
        return
    builder = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    upsert = builder(AlertAllowance).values([{"member_id": m, "day": day, "sent": 0} for m in wanted])
    sent = col(AlertAllowance.sent)
    await session.exec(upsert.on_conflict_do_update(index_elements=["member_id", "day"], set_={"sent": sent}))


async def hold(session: AsyncSession, *, members: Iterable[uuid.UUID | None]) -> None:
    """Lock these members' counters now, in id order, until the transaction ends. A caller that
    notifies several groups in one transaction (each `notify` locks only its own, in order)
    calls this first, so its locks are taken in one global order and cannot deadlock."""
    postgres = session.get_bind().dialect.name == "postgresql"
    with session.no_autoflush:
        for member_id in sorted({m for m in members if m is not None}):
            await _next_seq(session, member_id, postgres=postgres, step=0)


async def inbox(
    session: AsyncSession, *, member_id: uuid.UUID, unread: bool | None, limit: int, cursor: str | None
) -> tuple[list[Notification], str | None]:
    """A member's notifications, newest first; `unread` true for unread only, false for read only."""
    stmt = select(Notification).where(col(Notification.member_id) == member_id)
    if unread is not None:
        read_at = col(Notification.read_at)
        stmt = stmt.where(read_at.is_(None) if unread else read_at.is_not(None))
    if cursor:
        stmt = stmt.where(col(Notification.seq) < decode_seq_cursor(cursor, "n", below=2**62))
    rows = list((await session.exec(stmt.order_by(col(Notification.seq).desc()).limit(limit + 1))).all())
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], encode_cursor("n", rows[limit - 1].seq)


async def mark_read(session: AsyncSession, *, member_id: uuid.UUID, body: MarkRead) -> None:
    """Mark the member's own notifications read (the others named are left alone, unseen); a
    notification already read keeps its first `read_at`."""
    stmt = update(Notification).where(
        col(Notification.member_id) == member_id, col(Notification.read_at).is_(None)
    )
    if body.ids is not None:
        stmt = stmt.where(col(Notification.id).in_(body.ids))
    await session.exec(stmt.values(read_at=utcnow()))


async def after(session: AsyncSession, *, member_id: uuid.UUID, seq: int, limit: int) -> list[Notification]:
    """The member's notifications after `seq`, oldest first: what a stream has yet to send."""
    stmt = (
        select(Notification)
        .where(col(Notification.member_id) == member_id, col(Notification.seq) > seq)
        .order_by(col(Notification.seq))
        .limit(limit)
    )
    return list((await session.exec(stmt)).all())


async def latest_seqs(session: AsyncSession, *, members: Collection[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Each of `members`' newest `seq` (its counter, which commits with the notification that
    takes it), for those ever notified: how one query tells which of a process's open streams
    have something new."""
    member = col(NotificationCounter.member_id)
    found: dict[uuid.UUID, int] = {}
    for condition in among(member, members, dialect=session.get_bind().dialect.name):
        rows = await session.exec(select(member, col(NotificationCounter.last_seq)).where(condition))
        found.update((m, int(seq)) for m, seq in rows.all())
    return found


async def resume_point(session: AsyncSession, *, member_id: uuid.UUID, last_event_id: str | None) -> int:
    """The `seq` a stream starts after: that of the member's notification `last_event_id`, else
    the newest (a new stream, or an id that is not this member's, starts from now)."""
    if last_event_id:
        try:
            known = uuid.UUID(last_event_id.strip())
        except ValueError:
            known = None
        if known is not None:
            seq = await session.exec(
                select(Notification.seq).where(
                    col(Notification.id) == known, col(Notification.member_id) == member_id
                )
            )
            found = seq.first()
            if found is not None:
                return int(found)
    newest = await session.exec(
        select(func.max(Notification.seq)).where(col(Notification.member_id) == member_id)
    )
    return int(newest.one() or 0)


def _view(row: NotificationSettings | None) -> NotificationSettingsView:
    if row is None:
        return NotificationSettingsView.model_validate(NotificationSettingsBody().model_dump())
    return NotificationSettingsView(
        email=row.email, push=row.push, alerts=Alerts.model_validate(row.alerts), timezone=row.timezone
    )


async def get_settings(session: AsyncSession, *, member_id: uuid.UUID) -> NotificationSettingsView:
    return _view(await session.get(NotificationSettings, member_id))


async def put_settings(
    session: AsyncSession, *, member_id: uuid.UUID, body: NotificationSettingsBody
) -> NotificationSettingsView:
    """Replace the member's settings whole (one upsert, so two PUTs at once cannot both insert)."""
    values = {
        "email": body.email,
        "push": body.push,
        "alerts": body.alerts.model_dump(mode="json", exclude_none=True),
        "timezone": body.timezone,
        "updated_at": utcnow(),
    }
    builder = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = builder(NotificationSettings).values(member_id=member_id, **values)
    await session.exec(stmt.on_conflict_do_update(index_elements=["member_id"], set_=values))
    return _view(await session.get(NotificationSettings, member_id, populate_existing=True))


async def turn_off_mail(session: AsyncSession, *, member_id: uuid.UUID) -> bool:
    """Notification mail off for the member (a one-click unsubscribe), their other settings
    kept; False, changing nothing, when the member is gone (erased or unknown)."""
    member = await session.get(Member, member_id)
    if member is None or member.erased_at is not None:
        return False
    now = utcnow()
    defaults = NotificationSettingsBody()
    builder = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = builder(NotificationSettings).values(
        member_id=member_id,
        email=False,
        push=defaults.push,
        alerts=defaults.alerts.model_dump(mode="json", exclude_none=True),
        timezone=defaults.timezone,
        updated_at=now,
    )
    await session.exec(
        stmt.on_conflict_do_update(index_elements=["member_id"], set_={"email": False, "updated_at": now})
    )
    return True
