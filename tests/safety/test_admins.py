"""`python -m app admin grant|revoke EMAIL`: the flag, its audit, and a clear failure."""

import uuid
from pathlib import Path

import anyio
import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import col, select

from app.audit.models import AdminAction
from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker
from app.members.models import Member as MemberRow
from app.migrate import upgrade_head
from app.safety import admins
from tests.conftest import IS_POSTGRES, make_settings
from tests.factories import assert_problem, member


def _settings(database_url: str, tmp_path: Path) -> Settings:
    """The command's own database: the test's on Postgres, a migrated file on SQLite (an
    in-memory database is not shared with a second engine)."""
    if IS_POSTGRES:
        return make_settings(database_url)
    url = f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}"
    upgrade_head(url)
    return make_settings(url)


async def test_grant_and_revoke_by_the_command(
    client: httpx.AsyncClient,
    application: FastAPI,
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = _settings(database_url, tmp_path)
    email = f"Admin-{uuid.uuid4().hex[:8]}@Example.org"
    if IS_POSTGRES:
        who = await member(client, email=email)
        target = who.id
    else:  # the command writes to its own file; put the member there
        engine = make_engine(settings)
        async with make_sessionmaker(engine)() as session:
            row = MemberRow(email=email.lower(), password_hash="x", display_name="Ada Example")
            session.add(row)
            await session.commit()
            target = str(row.id)
        await engine.dispose()
    assert await _run(settings, "grant", email) == 0
    assert capsys.readouterr().out == f"{email} is now a platform admin.\n"
    assert await _flag(settings, target) is True
    assert await _run(settings, "revoke", email) == 0
    assert await _flag(settings, target) is False
    actions = await _actions(settings, target)
    assert actions == [(None, "grant_admin"), (None, "revoke_admin")]


async def test_an_unknown_email_fails_clearly(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = _settings(database_url, tmp_path)
    assert await _run(settings, "grant", "nobody@example.org") == 1
    assert (
        capsys.readouterr().err == "No member has the email address 'nobody@example.org'; nothing changed.\n"
    )


async def test_a_granted_admin_may_act_and_a_revoked_one_may_not(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    boss, who = await member(client), await member(client)
    path = f"/v1/admin/members/{who.id}/reinstate"
    async with application.state.sessionmaker() as session:
        await admins.set_admin(session, email=boss.data["email"], admin=True)
        await session.commit()
    assert (await client.post(path, headers=boss.headers)).status_code == 200
    async with application.state.sessionmaker() as session:
        await admins.set_admin(session, email=boss.data["email"], admin=False)
        await session.commit()
    assert_problem(await client.post(path, headers=boss.headers), 403)


async def _run(settings: Settings, action: str, email: str) -> int:
    return await anyio.to_thread.run_sync(lambda: admins.main(settings, action=action, email=email))


async def _flag(settings: Settings, member_id: str) -> bool:
    engine = make_engine(settings)
    async with make_sessionmaker(engine)() as session:
        row = await session.get(MemberRow, uuid.UUID(member_id))
        assert row is not None
        flag = row.platform_admin
    await engine.dispose()
    return flag


async def _actions(settings: Settings, member_id: str) -> list[tuple[uuid.UUID | None, str]]:
    engine = make_engine(settings)
    async with make_sessionmaker(engine)() as session:
        stmt = select(AdminAction).where(col(AdminAction.target_member_id) == uuid.UUID(member_id))
        rows = (await session.exec(stmt.order_by(col(AdminAction.at)))).all()
    await engine.dispose()
    return [(a.actor_member_id, a.action) for a in rows]


async def test_a_database_without_the_schema_fails_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    assert await _run(settings, "grant", "someone@example.org") == 2
    assert capsys.readouterr().err == (
        "The database could not be used (OperationalError); is DATABASE_URL right, and has "
        "`python -m app migrate` run? Nothing changed.\n"
    )
