"""Alembic environment: the app's metadata, its URL, and batch mode for SQLite."""

from logging.config import fileConfig
from typing import Any

from sqlalchemy import create_engine, pool

import app.models  # noqa: F401  (every table in the metadata)
from alembic import context
from app.core.config import get_settings
from app.core.db import sync_url
from app.core.metadata import metadata

config = context.config
if config.config_file_name is not None and not config.attributes.get("database_url"):
    # From the command line only: in-process callers keep their own logging.
    fileConfig(config.config_file_name, disable_existing_loggers=False)

# Tables that extensions (PostGIS) own; they are not the app's to compare or drop.
FOREIGN_TABLES = {"spatial_ref_sys", "geography_columns", "geometry_columns"}


# PostGIS expression indexes exist on Postgres only, so they live in the migration, not the models.
POSTGIS_INDEXES = {"ix_needs_approx_geog", "ix_offers_approx_geog", "ix_activities_approx_geog"}
POSTGIS_INDEX_PREFIXES = ("ix_offers_geog_category_", "ix_offers_walk_category_")


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    if type_ == "table":
        return name not in FOREIGN_TABLES
    if type_ == "index":
        return name not in POSTGIS_INDEXES and not (name or "").startswith(POSTGIS_INDEX_PREFIXES)
    return True


def database_url() -> str:
    return sync_url(config.attributes.get("database_url") or get_settings().database_url)


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=metadata,
        literal_binds=True,
        render_as_batch=True,
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=True,
            compare_type=True,
            include_name=include_name,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
