"""Calendar feeds, occurrence reminders, and slots counted per occurrence

Revision ID: 0022
Revises: 0017
Create Date: 2026-11-30 13:29:35.203998

`calendar_feeds` holds one secret-URL feed per member, by the sha256 of its token (unique, the
lookup of every fetch). `occurrence_reminders` records each reminder sent: its primary key makes a
reminder once per (member, need or activity, occurrence start), whichever worker inserts first.
`need_occurrence_slots` counts the slots that matches naming one occurrence of a recurring need
hold in it (matches for the whole series stay counted on the need). Accepted or completed
matches naming an occurrence were counted on the series until now: their slots move to their
occurrence (a need they alone made `matched` opens again), so giving one back later frees the
occurrence's slot, not the series'.
"""

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendar_feeds",
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_calendar_feeds_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_calendar_feeds")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_calendar_feeds_token_hash")),
    )
    op.create_table(
        "occurrence_reminders",
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("subject_type", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("occurrence_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_occurrence_reminders_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "member_id",
            "subject_type",
            "subject_id",
            "occurrence_start",
            name=op.f("pk_occurrence_reminders"),
        ),
    )
    op.create_table(
        "need_occurrence_slots",
        sa.Column("need_id", sa.Uuid(), nullable=False),
        sa.Column("occurrence_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("occurrence_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.CheckConstraint("accepted >= 0", name=op.f("ck_need_occurrence_slots_accepted")),
        sa.ForeignKeyConstraint(
            ["need_id"], ["needs.id"], name=op.f("fk_need_occurrence_slots_need_id_needs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("need_id", "occurrence_start", name=op.f("pk_need_occurrence_slots")),
    )
    _move_occurrence_slots()


_TIME = sa.DateTime(timezone=True)
_MATCHES = sa.table(
    "matches",
    sa.column("need_id", sa.Uuid()),
    sa.column("occurrence_start", _TIME),
    sa.column("status", sa.String()),
)
_NEEDS = sa.table(
    "needs",
    sa.column("id", sa.Uuid()),
    *(sa.column(c, _TIME) for c in ("window_start", "window_end")),
    *(
        sa.column(c, sa.Integer())
        for c in ("volunteers_needed", "volunteers_accepted", "volunteers_completed")
    ),
    sa.column("status", sa.String()),
)
_SLOTS = sa.table(
    "need_occurrence_slots",
    sa.column("need_id", sa.Uuid()),
    *(sa.column(c, _TIME) for c in ("occurrence_start", "occurrence_end")),
    sa.column("accepted", sa.Integer()),
)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _move_occurrence_slots() -> None:
    bind = op.get_bind()
    stored = (lambda t: t.replace(tzinfo=None)) if bind.dialect.name == "sqlite" else (lambda t: t)
    rows = bind.execute(
        sa.select(_MATCHES.c.need_id, _MATCHES.c.occurrence_start, _MATCHES.c.status, _NEEDS.c.window_start)
        .add_columns(_NEEDS.c.window_end)
        .join(_NEEDS, _NEEDS.c.id == _MATCHES.c.need_id)
        .where(_MATCHES.c.occurrence_start.is_not(None), _MATCHES.c.status.in_(("accepted", "completed")))
    ).all()
    taken: Counter[tuple[object, datetime, datetime]] = Counter()
    moved: Counter[object] = Counter()
    done: Counter[object] = Counter()
    for need_id, start, status, window_start, window_end in rows:
        start = _utc(start)
        # The occurrence's end, as long as the first (only a DST change makes it an hour off,
        # and the end only decides when the count stops mattering).
        taken[(need_id, start, start + (_utc(window_end) - _utc(window_start)))] += 1
        moved[need_id] += 1
        done[need_id] += status == "completed"
    for (need_id, start, end), n in taken.items():
        bind.execute(
            _SLOTS.insert().values(
                need_id=need_id, occurrence_start=stored(start), occurrence_end=stored(end), accepted=n
            )
        )
    for need_id, n in moved.items():
        accepted = _NEEDS.c.volunteers_accepted - n
        bind.execute(
            _NEEDS.update()
            .where(_NEEDS.c.id == need_id)
            .values(
                volunteers_accepted=accepted,
                volunteers_completed=_NEEDS.c.volunteers_completed - done[need_id],
                status=sa.case(
                    (sa.and_(_NEEDS.c.status == "matched", accepted < _NEEDS.c.volunteers_needed), "open"),
                    else_=_NEEDS.c.status,
                ),
            )
        )


def downgrade() -> None:
    # The occurrences' counts go with their table; they are not put back on the series, which
    # per-occurrence slots may have filled beyond `volunteers_needed` across different dates.
    op.drop_table("need_occurrence_slots")
    op.drop_table("occurrence_reminders")
    op.drop_table("calendar_feeds")
