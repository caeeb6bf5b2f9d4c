"""Retention: what the service stops holding once it is no longer needed.

Each kind of personal data with a time limit is one `Purge` in `PURGES`: how to find the rows
whose time is up and still hold it (`due`), and what to set in its place (`values`). A domain
with more to forget (match messages, sessions) adds an entry. Rows are taken in batches by
primary key, each batch its own short transaction, so readers are never held up for long; a
purged row no longer matches `due`, so a second run touches nothing.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit.models import AuditEvent
from app.core.config import Settings
from app.core.timeutil import utcnow
from app.core.transactions import commit_own
from app.matches.models import ACTIVE, Match, Message
from app.needs.models import Need, NeedStatus
from app.notifications.models import NeedAlert

Sessions = async_sessionmaker[AsyncSession]
ENDED = (NeedStatus.fulfilled, NeedStatus.cancelled, NeedStatus.expired)


def _need_ended_before(cutoff: datetime) -> ColumnElement[bool]:
    """A closed need ended when it was last written; an open one whose window has closed
    (expired without anyone writing it, app.needs.views.effective_status) ended then."""
    return or_(
        and_(col(Need.status).in_(ENDED), col(Need.updated_at) < cutoff),
        and_(col(Need.status) == NeedStatus.open, col(Need.window_end) < cutoff),
    )


def _need_holds_details() -> ColumnElement[bool]:
    return or_(
        col(Need.lat).is_not(None),
        col(Need.address).is_not(None),
        col(Need.contact_name).is_not(None),
        col(Need.contact_phone).is_not(None),
    )


@dataclass(frozen=True)
class Purge:
    kind: str  # the name counts are reported under
    table: Any
    due: Callable[[datetime], ColumnElement[bool]]  # rows whose details outlived the cutoff
    values: dict[str, Any]  # what replaces them


def _message_outlived(cutoff: datetime) -> ColumnElement[bool]:
    """A message with text, of a match that ended before the cutoff."""
    ended = select(Match.id).where(col(Match.closed_at) < cutoff, col(Match.status).not_in(ACTIVE))
    return and_(col(Message.body).is_not(None), col(Message.match_id).in_(ended))


PURGES = (
    # The exact point (and the finest cell, drawn from it), the address and the contact; the
    # coarse location and the need's own text stay, for the organisation's records and counts.
    Purge(
        "need_details",
        Need,
        lambda cutoff: and_(_need_ended_before(cutoff), _need_holds_details()),
        {
            "lat": None,
            "lon": None,
            "h3_r8": None,
            "address": None,
            "contact_name": None,
            "contact_phone": None,
        },
    ),
    # What the two sides wrote to each other: the row stays (the match's record), the text goes.
    Purge("message_text", Message, _message_outlived, {"body": None}),
)


async def _purge_kind(sessions: Sessions, purge: Purge, cutoff: datetime, batch: int, dry_run: bool) -> int:
    pk: Any = purge.table.__table__.primary_key.columns.values()[0]
    if dry_run:
        async with sessions() as session:
            stmt = select(func.count()).select_from(purge.table).where(purge.due(cutoff))
            return int((await session.exec(stmt)).one())
    done, last = 0, None
    while True:
        async with sessions() as session:
            ids = select(pk).where(purge.due(cutoff)).order_by(pk).limit(batch)
            if last is not None:
                ids = ids.where(pk > last)
            chosen = list((await session.exec(ids)).all())
            if not chosen:
                return done
            # `due` again in the UPDATE: a row changed since it was chosen is left as it now is.
            result = await session.exec(
                update(purge.table).where(pk.in_(chosen), purge.due(cutoff)).values(**purge.values)
            )
            await commit_own(session)
        done, last = done + int(result.rowcount), chosen[-1]


async def _purge_audit(sessions: Sessions, cutoff: datetime, batch: int, dry_run: bool) -> int:
    old = col(AuditEvent.at) < cutoff
    async with sessions() as session:
        if dry_run:
            return int((await session.exec(select(func.count()).select_from(AuditEvent).where(old))).one())
    done = 0
    while True:
        async with sessions() as session:
            chosen = select(AuditEvent.id).where(old).order_by(col(AuditEvent.at)).limit(batch)
            result = await session.exec(
                delete(AuditEvent).where(col(AuditEvent.id).in_(chosen.scalar_subquery()))
            )
            await commit_own(session)
        if not result.rowcount:
            return done
        done += int(result.rowcount)


async def _purge_need_alerts(sessions: Sessions, cutoff: datetime, batch: int, dry_run: bool) -> int:
    """Who was alerted of which need (`need_alerts`), once the need ended before the cutoff: an
    ended need is never made public again, so the rows no longer keep anyone from a second
    alert, and they say which volunteers were near whom. `batch` needs' rows at a time."""
    ended = select(Need.id).where(_need_ended_before(cutoff))
    if dry_run:
        async with sessions() as session:
            due = select(func.count()).select_from(NeedAlert).where(col(NeedAlert.need_id).in_(ended))
            return int((await session.exec(due)).one())
    done = 0
    while True:
        async with sessions() as session:
            chosen = (
                select(NeedAlert.need_id).where(col(NeedAlert.need_id).in_(ended)).distinct().limit(batch)
            )
            result = await session.exec(
                delete(NeedAlert).where(col(NeedAlert.need_id).in_(chosen.scalar_subquery()))
            )
            await commit_own(session)
        if not result.rowcount:
            return done
        done += int(result.rowcount)


async def purge(
    sessions: Sessions, settings: Settings, *, dry_run: bool = False, now: datetime | None = None
) -> dict[str, int]:
    """Purge what outlived its retention; `{kind: rows}` purged (with `dry_run`: that would be)."""
    now = now or utcnow()
    ended = now - timedelta(days=settings.retention_days)
    counts = {
        p.kind: await _purge_kind(sessions, p, ended, settings.retention_batch_size, dry_run) for p in PURGES
    }
    batch = settings.retention_batch_size
    counts["need_alerts"] = await _purge_need_alerts(sessions, ended, batch, dry_run)
    audited = now - timedelta(days=settings.audit_retention_days)
    counts["audit_events"] = await _purge_audit(sessions, audited, settings.retention_batch_size, dry_run)
    return counts
