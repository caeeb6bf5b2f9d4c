"""Alembic is the only way the schema changes: head builds it from nothing, with no drift."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import create_engine, inspect

from alembic import command
from app.bit_numbers import CATEGORY
from app.core.config import get_settings
from app.core.db import sync_url
from app.core.encryption import ring_of
from app.matching.masks import FLEXIBLE
from app.migrate import alembic_config, upgrade_head
from tests.conftest import DATABASE_URL, TEST_DATA_KEY, libpq_url


def _upgrade_and_check(url: str) -> set[str]:
    upgrade_head(url)
    command.check(alembic_config(url))  # raises when the models and the migrations disagree
    engine = create_engine(sync_url(url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_sqlite_file_migrates_to_head_without_drift(tmp_path: Path) -> None:
    tables = _upgrade_and_check(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
    assert {"members", "needs", "offers", "alembic_version"} <= tables


_MEMBERS = sa.table(
    "members",
    *(sa.column(c) for c in ("email", "password_hash", "display_name")),
    sa.column("id", sa.Uuid()),
    sa.column("languages", sa.JSON()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
_OFFERS = sa.table(
    "offers",
    *(sa.column(c, sa.Uuid()) for c in ("id", "volunteer_id")),
    *(sa.column(c, sa.JSON()) for c in ("categories", "modes", "availability", "languages", "capabilities")),
    *(sa.column(c, sa.DateTime(timezone=True)) for c in ("created_at", "updated_at")),
    *(sa.column(c) for c in ("lat", "lon", "approx_lat", "approx_lon", "h3_r4", "h3_r6", "h3_r8")),
    *(
        sa.column(c)
        for c in ("max_distance_km", "timezone", "capacity", "active_matches", "status", "version")
    ),
)
NOW = datetime(2030, 1, 1, tzinfo=UTC)


def _offer(volunteer: uuid.UUID, languages: list[str], slots: list[dict[str, str]], zone: str) -> dict:
    place = {"lat": 51.5, "lon": -0.12, "approx_lat": 51.5, "approx_lon": -0.12, "h3_r4": 1, "h3_r6": 2}
    return place | {
        "id": uuid.uuid4(),
        "volunteer_id": volunteer,
        "categories": ["groceries"],
        "modes": ["in_person"],
        "h3_r8": 3,
        "max_distance_km": 5.0,
        "availability": slots,
        "timezone": zone,
        "capacity": 1,
        "active_matches": 0,
        "languages": languages,
        "capabilities": [],
        "status": "active",
        "version": 1,
        "created_at": NOW,
        "updated_at": NOW,
    }


def _masks_backfilled(url: str) -> None:
    """Offers written before the masks existed get them, from their lists, when migrated."""
    command.upgrade(alembic_config(url), "0003")
    volunteer = uuid.uuid4()
    monday_ten = [{"day": "mon", "start": "10:00", "end": "11:00"}]
    rows = [_offer(volunteer, ["es", "pl"], monday_ten, "Europe/London"), _offer(volunteer, [], [], "UTC")]
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            person = {"email": "old@example.org", "password_hash": "x", "display_name": "Old Offer"}
            conn.execute(
                _MEMBERS.insert().values(id=volunteer, languages=[], created_at=NOW, updated_at=NOW, **person)
            )
            conn.execute(_OFFERS.insert(), rows)
        upgrade_head(url)
        masks = ("languages_mask", "availability_mask_0", "availability_mask_1", "availability_mask_2")
        offers = sa.table("offers", sa.column("id", sa.Uuid()), *(sa.column(c) for c in masks))
        with engine.connect() as conn:
            stored = {r.id: tuple(r[1:]) for r in conn.execute(sa.select(offers))}
    finally:
        engine.dispose()
    spanish_polish = 1 << 38 | 1 << 1  # their permanent bits, app.bit_numbers.LANGUAGE
    assert stored == {
        rows[0]["id"]: (spanish_polish, 1 << 10 | 1 << 9, 0, 0),  # Monday 10:00 on GMT and on BST
        rows[1]["id"]: (0, *FLEXIBLE),
    }


def test_sqlite_offers_get_their_masks_when_migrated(tmp_path: Path) -> None:
    _masks_backfilled(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")


@pytest.fixture
def scratch_postgres() -> Iterator[str]:
    """A database of its own, created and dropped here."""
    name = f"migrate_{uuid.uuid4().hex[:12]}"
    admin = libpq_url(DATABASE_URL).rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield DATABASE_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.mark.postgres
def test_postgres_offers_get_their_masks_when_migrated(scratch_postgres: str) -> None:
    _masks_backfilled(scratch_postgres)


@pytest.mark.postgres
def test_postgres_migrates_to_head_without_drift(scratch_postgres: str) -> None:
    tables = _upgrade_and_check(scratch_postgres)
    assert {"members", "needs", "offers", "alembic_version"} <= tables
    with psycopg.connect(libpq_url(scratch_postgres)) as conn:
        indexes = {
            r[0]
            for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename IN ('needs','offers')")
        }
    assert {"ix_needs_approx_geog", "ix_offers_approx_geog"} <= indexes
    assert _category_indexes(scratch_postgres) == {f"ix_offers_geog_category_{b}" for b in CATEGORY.values()}
    command.downgrade(alembic_config(scratch_postgres), "base")


def _category_indexes(url: str) -> set[str]:
    with psycopg.connect(libpq_url(url)) as conn:
        query = "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'ix_offers_geog_category_%'"
        return {r[0] for r in conn.execute(query)}


@pytest.mark.postgres
def test_postgres_gets_back_a_missing_category_index(scratch_postgres: str) -> None:
    """0007 creates any per-category index a database lacks, and leaves the others be."""
    command.upgrade(alembic_config(scratch_postgres), "0006")
    with psycopg.connect(libpq_url(scratch_postgres), autocommit=True) as conn:
        conn.execute("DROP INDEX ix_offers_geog_category_5")
        before = conn.execute(
            "SELECT oid FROM pg_class WHERE relname = 'ix_offers_geog_category_4'"
        ).fetchone()
    upgrade_head(scratch_postgres)
    assert _category_indexes(scratch_postgres) == {f"ix_offers_geog_category_{b}" for b in CATEGORY.values()}
    with psycopg.connect(libpq_url(scratch_postgres)) as conn:
        after = conn.execute(
            "SELECT oid FROM pg_class WHERE relname = 'ix_offers_geog_category_4'"
        ).fetchone()
        definition = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_offers_geog_category_5'"
        ).fetchone()
    assert before == after  # not rebuilt
    assert definition is not None
    assert definition[0].endswith(
        "WHERE (((status)::text = 'active'::text) AND ((categories_mask & 32) <> 0))"
    )


# Accounts written before addresses were compared in canonical form (migration 0008). The
# composed and decomposed `é` are one address; so are a domain as Unicode and as `xn--`.
COMPOSED, DECOMPOSED = "Ren\u00e9e@Example.org", "Rene\u0301e@example.org"


def _member(email: str, year: int) -> dict:
    at = datetime(year, 1, 1, tzinfo=UTC)
    return {
        "id": uuid.uuid4(),
        "email": email,
        "password_hash": "x",
        "display_name": "Old Account",
        "languages": [],
        "created_at": at,
        "updated_at": at,
    }


def _emails_canonicalised(url: str) -> None:
    command.upgrade(alembic_config(url), "0006")
    rows = [
        _member(DECOMPOSED.lower(), 2020),  # oldest of its address: keeps it, canonical now
        _member(COMPOSED.lower(), 2021),  # already canonical, but newer: flagged, placeholder
        _member("SAM@Example.org", 2022),  # alone: only its case changes
        _member("x@ex\u00e4mple.org", 2019),  # canonical, and the oldest
        _member("X@xn--exmple-cua.org", 2023),  # the same address again
        _member("plain@example.org", 2024),  # untouched
    ]
    engine = create_engine(sync_url(url))
    members = sa.table(
        "members",
        *(sa.column(c, sa.Uuid()) for c in ("id", "duplicate_of")),
        *(sa.column(c) for c in ("email", "email_as_written")),
    )
    try:
        with engine.begin() as conn:
            conn.execute(_MEMBERS.insert(), rows)
        upgrade_head(url)
        with engine.connect() as conn:
            after = {
                r.id: (r.email, r.duplicate_of, r.email_as_written) for r in conn.execute(sa.select(members))
            }
        command.downgrade(alembic_config(url), "0006")
        plain = sa.table("members", sa.column("id", sa.Uuid()), sa.column("email"))
        with engine.connect() as conn:
            restored = {r.id: r.email for r in conn.execute(sa.select(plain))}
    finally:
        engine.dispose()
    ids = [r["id"] for r in rows]
    assert after == {
        ids[0]: ("ren\u00e9e@example.org", None, DECOMPOSED.lower()),
        ids[1]: (f"DUPLICATE-{ids[1].hex}@merge.invalid", ids[0], COMPOSED.lower()),
        ids[2]: ("sam@example.org", None, "SAM@Example.org"),
        ids[3]: ("x@ex\u00e4mple.org", None, None),
        ids[4]: (f"DUPLICATE-{ids[4].hex}@merge.invalid", ids[3], "X@xn--exmple-cua.org"),
        ids[5]: ("plain@example.org", None, None),
    }
    assert restored == {r["id"]: r["email"] for r in rows}  # nothing lost either way


def test_sqlite_emails_become_canonical_and_duplicates_are_kept_flagged(tmp_path: Path) -> None:
    _emails_canonicalised(f"sqlite+aiosqlite:///{tmp_path / 'emails.db'}")


@pytest.mark.postgres
def test_postgres_emails_become_canonical_and_duplicates_are_kept_flagged(scratch_postgres: str) -> None:
    _emails_canonicalised(scratch_postgres)


def _secrets_sealed(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Webhook secrets and mail bodies written in the clear are sealed by 0021, and opened again
    by its downgrade; a blanked body stays blank."""
    monkeypatch.setenv("DATA_ENCRYPTION_KEYS", TEST_DATA_KEY)
    get_settings.cache_clear()
    keys = ring_of([TEST_DATA_KEY])
    org, hook, mail, blank = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    secret = "whsec_" + "A" * 43 + "="
    organizations = sa.table(
        "organizations",
        sa.column("id", sa.Uuid()),
        *(sa.column(c) for c in ("name", "created_at", "updated_at")),
    )
    endpoints = sa.table(
        "webhook_endpoints",
        *(sa.column(c, sa.Uuid()) for c in ("id", "organization_id")),
        sa.column("events", sa.JSON()),
        *(sa.column(c) for c in ("url", "secret", "status", "created_at", "updated_at")),
    )
    mails = sa.table(
        "mail_messages",
        sa.column("id", sa.Uuid()),
        *(sa.column(c) for c in ("to_address", "subject", "text_body", "html_body", "created_at")),
    )
    engine = create_engine(sync_url(url))
    try:
        command.upgrade(alembic_config(url), "0017")
        with engine.begin() as conn:
            conn.execute(
                organizations.insert().values(id=org, name="Old Group", created_at=NOW, updated_at=NOW)
            )
            conn.execute(
                endpoints.insert().values(
                    id=hook,
                    organization_id=org,
                    url="https://partner.example.org/hooks",
                    events=["need.created"],
                    secret=secret,
                    status="active",
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            common = {"to_address": "someone@example.org", "subject": "Reset", "created_at": NOW}
            conn.execute(
                mails.insert().values(id=mail, text_body="token=abc", html_body="<a>abc</a>", **common)
            )
            conn.execute(mails.insert().values(id=blank, text_body="", html_body="", **common))
        upgrade_head(url)
        with engine.connect() as conn:
            sealed_secret = conn.execute(sa.select(endpoints.c.secret)).scalar_one()
            bodies = {r.id: (r.text_body, r.html_body) for r in conn.execute(sa.select(mails))}
        assert secret not in sealed_secret
        assert keys.open(sealed_secret) == secret
        assert [keys.open(b) for b in bodies[mail]] == ["token=abc", "<a>abc</a>"]
        assert bodies[blank] == ("", "")
        command.downgrade(alembic_config(url), "0017")
        with engine.connect() as conn:
            assert conn.execute(sa.select(endpoints.c.secret)).scalar_one() == secret
            assert (
                conn.execute(sa.select(mails.c.text_body).where(mails.c.id == mail)).scalar_one()
                == "token=abc"
            )
    finally:
        engine.dispose()
        get_settings.cache_clear()


def test_sqlite_secrets_are_sealed_when_migrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _secrets_sealed(f"sqlite+aiosqlite:///{tmp_path / 'secrets.db'}", monkeypatch)


@pytest.mark.postgres
def test_postgres_secrets_are_sealed_when_migrated(
    scratch_postgres: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _secrets_sealed(scratch_postgres, monkeypatch)
