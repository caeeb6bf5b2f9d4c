"""Retention's two runners: `python -m app purge [--dry-run]`, and the worker's periodic job."""

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import anyio
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit.models import AuditEvent
from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker
from app.core.periodic import Periodic
from app.core.timeutil import utcnow
from app.datarights import upkeep
from app.datarights.retention import purge
from app.migrate import upgrade_head
from app.webhooks.process import serve
from tests.conftest import make_settings


async def _old_audit_rows(settings: Settings, n: int) -> None:
    """Audit rows a year and a half old, about a need of a member made for them."""
    from app.members.models import Member
    from app.needs.models import Need

    engine = make_engine(settings)
    async with make_sessionmaker(engine)() as session:
        person = Member(email=f"old{uuid.uuid4().hex[:6]}@example.org", password_hash="x", display_name="Old")
        need = Need(
            requester_id=person.id, category="groceries", title="Old need", mode="remote", urgency="normal"
        )
        session.add_all([person, need])
        await session.flush()
        at = utcnow() - timedelta(days=550)
        session.add_all(
            AuditEvent(need_id=need.id, actor_name="x", fields=["address"], reason="coordinator", at=at)
            for _ in range(n)
        )
        await session.commit()
    await engine.dispose()


def _file_settings(tmp_path: Path) -> Settings:
    url = f"sqlite+aiosqlite:///{tmp_path / 'purge.db'}"
    upgrade_head(url)
    return make_settings(url)


async def test_the_command_says_what_it_would_purge_then_purges(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = _file_settings(tmp_path)
    await _old_audit_rows(settings, 3)
    await anyio.to_thread.run_sync(lambda: upkeep.main(settings, dry_run=True))
    await anyio.to_thread.run_sync(lambda: upkeep.main(settings, dry_run=False))
    await anyio.to_thread.run_sync(lambda: upkeep.main(settings, dry_run=False))
    assert capsys.readouterr().out.splitlines() == [
        "would purge 0 need_details",
        "would purge 0 message_text",
        "would purge 0 need_alerts",
        "would purge 3 audit_events",
        "purged 0 need_details",
        "purged 0 message_text",
        "purged 0 need_alerts",
        "purged 3 audit_events",
        "purged 0 need_details",
        "purged 0 message_text",
        "purged 0 need_alerts",
        "purged 0 audit_events",
    ]


async def test_the_worker_runs_the_purge(tmp_path: Path) -> None:
    settings = _file_settings(tmp_path)
    await _old_audit_rows(settings, 2)
    stop = asyncio.Event()
    ran: list[dict[str, int]] = []

    async def purge_then_stop(sessions: async_sessionmaker[AsyncSession], s: Settings) -> None:
        await upkeep.periodic(s).run(sessions, s)
        ran.append(await purge(sessions, s, dry_run=True))
        stop.set()

    await asyncio.wait_for(serve(settings, stop, periodic=[Periodic(3600, purge_then_stop)]), 30)
    assert ran == [{"need_details": 0, "message_text": 0, "need_alerts": 0, "audit_events": 0}]
