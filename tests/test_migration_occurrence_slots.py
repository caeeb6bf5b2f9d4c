"""Migration 0022: accepted or completed matches naming one occurrence move their slot from the
series to their occurrence (need_occurrence_slots); a need they alone filled opens again."""

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import create_engine

from alembic import command
from app.core.db import sync_url
from app.migrate import alembic_config, upgrade_head
from tests.test_migration_filed_by import _MATCHES, _NEEDS, _person
from tests.test_migrations import _MEMBERS, _OFFERS, _offer, scratch_postgres  # noqa: F401

START = datetime(2030, 1, 5, 10, tzinfo=UTC)
_SERIES = sa.table(
    "needs",
    sa.column("id", sa.Uuid()),
    *(sa.column(c, sa.DateTime(timezone=True)) for c in ("window_start", "window_end")),
    *(sa.column(c) for c in ("timezone", "recurrence_rule", "status")),
    *(sa.column(c) for c in ("volunteers_accepted", "volunteers_completed")),
)
_OCCURRENCE = sa.table(
    "matches", sa.column("id", sa.Uuid()), sa.column("occurrence_start", sa.DateTime(timezone=True))
)
_SLOTS = sa.table(
    "need_occurrence_slots",
    sa.column("need_id", sa.Uuid()),
    *(sa.column(c, sa.DateTime(timezone=True)) for c in ("occurrence_start", "occurrence_end")),
    sa.column("accepted", sa.Integer()),
)


def _need(requester: uuid.UUID, needed: int, accepted: int, status: str) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "requester_id": requester,
        "organization_id": None,
        "filed_by_member_id": None,
        "external_id": None,
        "category": "groceries",
        "title": "Weekly shop",
        "urgency": "normal",
        "mode": "remote",
        "visibility": "public",
        "status": status,
        "volunteers_needed": needed,
        "volunteers_accepted": accepted,
        "version": 1,
        "languages": [],
        "requirements": [],
        "created_at": START,
        "updated_at": START,
    }


def _moves(url: str) -> None:
    command.upgrade(alembic_config(url), "0017")
    requester, helper = _person(1), _person(2)
    alone = _need(requester["id"], needed=1, accepted=1, status="matched")  # filled by one date
    # A series match, and a date done: one slot left on the other dates, so open again.
    shared = _need(requester["id"], needed=2, accepted=2, status="matched")
    offer = _offer(helper["id"], [], [], "UTC")
    second = START + timedelta(days=7)
    matches = [
        (alone, "accepted", second),
        (shared, "accepted", None),
        (shared, "completed", START),
    ]
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            conn.execute(_MEMBERS.insert(), [requester, helper])
            conn.execute(_NEEDS.insert(), [alone, shared])
            for need, done in ((alone, 0), (shared, 1)):
                conn.execute(
                    _SERIES.update()
                    .where(_SERIES.c.id == need["id"])
                    .values(
                        window_start=START,
                        window_end=START + timedelta(hours=2),
                        timezone="UTC",
                        recurrence_rule="FREQ=WEEKLY;COUNT=4",
                        volunteers_completed=done,
                    )
                )
            conn.execute(_OFFERS.insert(), [offer])
            for need, status, occurrence in matches:
                match_id = uuid.uuid4()
                conn.execute(
                    _MATCHES.insert().values(
                        id=match_id,
                        need_id=need["id"],
                        offer_id=offer["id"],
                        volunteer_id=helper["id"],
                        requester_id=requester["id"],
                        status=status,
                        version=1,
                        created_at=START,
                        updated_at=START,
                    )
                )
                conn.execute(
                    _OCCURRENCE.update()
                    .where(_OCCURRENCE.c.id == match_id)
                    .values(occurrence_start=occurrence)
                )
        upgrade_head(url)
        with engine.connect() as conn:
            needs = {
                row.id: (row.volunteers_accepted, row.volunteers_completed, row.status)
                for row in conn.execute(
                    sa.select(
                        _SERIES.c.id,
                        _SERIES.c.volunteers_accepted,
                        _SERIES.c.volunteers_completed,
                        _SERIES.c.status,
                    )
                )
            }
            slots = sorted(
                (row.need_id == alone["id"], row.occurrence_start.replace(tzinfo=UTC), row.accepted)
                for row in conn.execute(sa.select(_SLOTS))
            )
    finally:
        engine.dispose()
    assert needs == {alone["id"]: (0, 0, "open"), shared["id"]: (1, 0, "open")}
    assert slots == [(False, START, 1), (True, second, 1)]


def test_sqlite_occurrence_matches_move_to_their_date(tmp_path: Path) -> None:
    _moves(f"sqlite+aiosqlite:///{tmp_path / 'slots.db'}")


@pytest.mark.postgres
def test_postgres_occurrence_matches_move_to_their_date(scratch_postgres: str) -> None:  # noqa: F811
    _moves(scratch_postgres)
