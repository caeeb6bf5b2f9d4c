"""Migration 0010: needs coordinators filed for someone move to their organisation, and back."""

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from alembic import command
from app.core.db import sync_url
from app.migrate import alembic_config, upgrade_head
from tests.test_migrations import _MEMBERS, _OFFERS, _offer, scratch_postgres  # noqa: F401

FILED = datetime(2026, 6, 1, tzinfo=UTC)
BEFORE, AFTER = FILED - timedelta(days=30), FILED + timedelta(days=30)
_UUIDS = ("id", "requester_id", "organization_id", "filed_by_member_id")
_NEEDS = sa.table(
    "needs",
    *(sa.column(c, sa.Uuid()) for c in _UUIDS),
    *(sa.column(c, sa.JSON()) for c in ("languages", "requirements")),
    *(sa.column(c, sa.DateTime(timezone=True)) for c in ("created_at", "updated_at")),
    *(sa.column(c) for c in ("external_id", "category", "title", "urgency", "mode", "visibility", "status")),
    *(sa.column(c) for c in ("volunteers_needed", "volunteers_accepted", "version")),
)
_ORGS = sa.table(
    "organizations",
    sa.column("id", sa.Uuid()),
    sa.column("name"),
    *(sa.column(c, sa.DateTime(timezone=True)) for c in ("created_at", "updated_at")),
)
_MEMBERSHIPS = sa.table(
    "organization_members",
    *(sa.column(c, sa.Uuid()) for c in ("organization_id", "member_id")),
    sa.column("role"),
    sa.column("vetted", sa.Boolean()),
    *(sa.column(c, sa.DateTime(timezone=True)) for c in ("created_at", "updated_at")),
)
_MATCHES = sa.table(
    "matches",
    *(sa.column(c, sa.Uuid()) for c in ("id", "need_id", "offer_id", "volunteer_id", "requester_id")),
    sa.column("status"),
    sa.column("version"),
    *(sa.column(c, sa.DateTime(timezone=True)) for c in ("created_at", "updated_at")),
)
_AUDIT = sa.table(
    "audit_events",
    *(sa.column(c, sa.Uuid()) for c in ("id", "need_id", "subject_member_id")),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("actor_name"),
    sa.column("fields", sa.JSON()),
    sa.column("reason"),
)


def _person(n: int) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "email": f"filer{n}@example.org",
        "password_hash": "x",
        "display_name": f"Filer {n}",
        "languages": [],
        "created_at": BEFORE,
        "updated_at": BEFORE,
    }


def _need(
    requester: uuid.UUID | None, org: uuid.UUID | None, external_id: str | None = None
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "requester_id": requester,
        "organization_id": org,
        "external_id": external_id,
        "category": "groceries",
        "title": "Shopping",
        "urgency": "normal",
        "mode": "remote",
        "visibility": "public",
        "status": "open",
        "volunteers_needed": 1,
        "volunteers_accepted": 0,
        "version": 1,
        "languages": [],
        "requirements": [],
        "created_at": FILED,
        "updated_at": FILED,
    }


def _filed_needs_move(url: str) -> None:
    command.upgrade(alembic_config(url), "0003")
    coordinator, volunteer, demoted, removed, helper = people = [_person(i) for i in range(5)]
    org = uuid.uuid4()
    roles = [
        (coordinator, "coordinator", BEFORE),
        (volunteer, "volunteer", BEFORE),
        (demoted, "volunteer", AFTER),
    ]
    needs = {
        "coordinator's": _need(coordinator["id"], org),
        "volunteer's own": _need(volunteer["id"], org),
        "volunteer's with external_id": _need(volunteer["id"], org, "case-1"),
        "demoted's": _need(demoted["id"], org),
        "removed's": _need(removed["id"], org),
        "outside any organisation": _need(coordinator["id"], None),
        "a key's": _need(None, org),
    }
    offer = _offer(helper["id"], [], [], "UTC")
    matches = [
        {"need": "coordinator's", "requester_id": coordinator["id"]},
        {"need": "volunteer's own", "requester_id": volunteer["id"]},
    ]
    audit = [
        {"need": "coordinator's", "subject_member_id": coordinator["id"], "fields": ["contact"]},
        {"need": "coordinator's", "subject_member_id": helper["id"], "fields": ["phone"]},
        {"need": "volunteer's own", "subject_member_id": volunteer["id"], "fields": ["contact"]},
    ]
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            conn.execute(_MEMBERS.insert(), people)
            conn.execute(_ORGS.insert().values(id=org, name="Group", created_at=BEFORE, updated_at=BEFORE))
            conn.execute(
                _MEMBERSHIPS.insert(),
                [
                    {"organization_id": org, "member_id": p["id"], "role": role, "vetted": False}
                    | {"created_at": BEFORE, "updated_at": at}
                    for p, role, at in roles
                ],
            )
            conn.execute(_NEEDS.insert(), list(needs.values()))
            conn.execute(_OFFERS.insert(), [offer])
            conn.execute(
                _MATCHES.insert(),
                [
                    {"id": uuid.uuid4(), "need_id": needs[m["need"]]["id"], "offer_id": offer["id"]}
                    | {"volunteer_id": helper["id"], "requester_id": m["requester_id"], "status": "proposed"}
                    | {"version": 1, "created_at": FILED, "updated_at": FILED}
                    for m in matches
                ],
            )
            conn.execute(
                _AUDIT.insert(),
                [
                    {
                        "id": uuid.uuid4(),
                        "need_id": needs[a["need"]]["id"],
                        "subject_member_id": a["subject_member_id"],
                    }
                    | {"at": AFTER, "actor_name": "Someone", "fields": a["fields"], "reason": "coordinator"}
                    for a in audit
                ],
            )
        upgrade_head(url)
        after = _state(engine, needs)
        # To the revision before this one, wherever the chain puts it.
        before = ScriptDirectory.from_config(alembic_config(url)).get_revision("0010").down_revision
        command.downgrade(alembic_config(url), str(before))
        restored = _state(engine, needs, filed_by=False)
    finally:
        engine.dispose()
    c, v, d, r = (p["id"] for p in (coordinator, volunteer, demoted, removed))
    assert after["needs"] == {
        "coordinator's": (None, c),
        "volunteer's own": (v, None),
        "volunteer's with external_id": (None, v),
        "demoted's": (None, d),
        "removed's": (None, r),
        "outside any organisation": (c, None),
        "a key's": (None, None),
    }
    assert after["matches"] == {"coordinator's": None, "volunteer's own": v}
    assert sorted(after["audit"], key=str) == sorted(
        [("coordinator's", None), ("coordinator's", helper["id"]), ("volunteer's own", v)], key=str
    )
    # Downgrade gives each filer back their need, as the old rule had it.
    assert restored["needs"] == {name: (n["requester_id"], None) for name, n in needs.items()}
    assert restored["matches"] == {"coordinator's": c, "volunteer's own": v}
    assert sorted(restored["audit"], key=str) == sorted(
        [(a["need"], a["subject_member_id"]) for a in audit], key=str
    )


def _state(engine: sa.Engine, needs: dict[str, dict[str, Any]], *, filed_by: bool = True) -> dict[str, Any]:
    name_of = {n["id"]: name for name, n in needs.items()}
    columns = [_NEEDS.c.id, _NEEDS.c.requester_id] + ([_NEEDS.c.filed_by_member_id] if filed_by else [])
    with engine.connect() as conn:
        return {
            "needs": {
                name_of[row.id]: (row.requester_id, row.filed_by_member_id if filed_by else None)
                for row in conn.execute(sa.select(*columns))
            },
            "matches": {
                name_of[row.need_id]: row.requester_id
                for row in conn.execute(sa.select(_MATCHES.c.need_id, _MATCHES.c.requester_id))
            },
            "audit": [
                (name_of[row.need_id], row.subject_member_id)
                for row in conn.execute(sa.select(_AUDIT.c.need_id, _AUDIT.c.subject_member_id))
            ],
        }


def test_sqlite_needs_filed_for_someone_move_to_the_organization(tmp_path: Path) -> None:
    _filed_needs_move(f"sqlite+aiosqlite:///{tmp_path / 'filed.db'}")


@pytest.mark.postgres
def test_postgres_needs_filed_for_someone_move_to_the_organization(scratch_postgres: str) -> None:  # noqa: F811
    _filed_needs_move(scratch_postgres)
