"""`python -m app`: serve the API (migrating a SQLite database first), `migrate` only, `seed` a
demo, run the `worker` (webhook delivery, retention), `purge` by retention now, `secrets rotate`
(re-encrypt secrets at rest under the newest key) or `secrets new-key`, or
`admin grant|revoke EMAIL` a platform admin."""

import argparse
import os
import shutil
import sys
import tempfile

# Each command imports what it runs, inside it: `--help` and the commands that never serve stay
# quick (Alembic and the app's modules take seconds to import on a small machine).


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m app")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the HTTP server (default)")
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "1")))
    sub.add_parser("migrate", help="upgrade the configured database to the latest schema")
    seed = sub.add_parser(
        "seed",
        help="load a synthetic neighbourhood (made-up people) for a demo; safe to run again",
        description="Load demo data into the configured database (DATABASE_URL) through the API, "
        "in process: no server need be running. A second run changes nothing.",
    )
    seed.add_argument("--reset", action="store_true", help="delete the demo data first, then load it afresh")
    seed.add_argument("--verbose", action="store_true", help="log every request the seeder makes")
    sub.add_parser(
        "worker",
        help="deliver webhooks and mail (with retries), purge by retention, send occurrence "
        "reminders, daily alert digests and nearby-need alerts a server left unsent, until "
        "SIGTERM or SIGINT",
    )
    purge = sub.add_parser(
        "purge",
        help="purge what outlived its retention now (RETENTION_DAYS, AUDIT_RETENTION_DAYS)",
        description="Purge the exact location, address and contact of needs that ended more than "
        "RETENTION_DAYS ago and audit rows older than AUDIT_RETENTION_DAYS; print counts per kind.",
    )
    purge.add_argument("--dry-run", action="store_true", help="only count what would be purged")
    keys = sub.add_parser(
        "secrets",
        help="encryption of secrets at rest: re-seal under the newest key (rotate), or make a key (new-key)",
        description="`rotate` re-encrypts every sealed value (webhook signing secrets, queued mail) "
        "under the first DATA_ENCRYPTION_KEYS key, a batch per transaction; values already under it "
        "are left alone, so running it again changes nothing. `new-key` prints a fresh key.",
    )
    keys.add_argument("action", choices=["rotate", "new-key"])
    keys.add_argument("--batch-size", type=int, default=500, help="values per transaction (rotate)")
    admin = sub.add_parser("admin", help="make a member a platform admin (grant), or stop (revoke)")
    admin.add_argument("action", choices=["grant", "revoke"])
    admin.add_argument("email", help="the member's email address")
    args = parser.parse_args()
    if args.command == "secrets" and args.action == "new-key":
        from app.core.encryption import new_key

        print(new_key())  # needs no settings nor database
        return

    from app.core.config import get_settings
    from app.migrate import upgrade_head

    if args.command == "migrate":
        upgrade_head(get_settings().database_url)
        return
    if args.command == "admin":
        from app.safety.admins import main as admins

        settings = get_settings()
        if settings.migrate_on_startup and settings.is_sqlite:
            upgrade_head(settings.database_url)  # the zero-setup path: as serving would
        sys.exit(admins(settings, action=args.action, email=args.email))
    if args.command == "seed":
        from app.seed import main as load_demo

        load_demo(reset=args.reset, verbose=args.verbose)
        return
    settings = get_settings()
    if settings.migrate_on_startup and settings.is_sqlite:
        # Once here, before any worker starts, so workers never race to migrate.
        upgrade_head(settings.database_url)
    if args.command == "secrets":
        import app.models  # noqa: F401  (every table, so every sealed column, in the metadata)
        from app.core.metadata import metadata
        from app.core.rekey import main as rotate

        sys.exit(rotate(settings, metadata, batch_size=max(1, args.batch_size)))
    if args.command == "purge":
        from app.datarights.upkeep import main as purge_now

        purge_now(settings, dry_run=args.dry_run)
        return
    if args.command == "worker":
        from app.calendars.upkeep import periodic as reminders
        from app.datarights.upkeep import periodic as retention
        from app.dispatch.digest import periodic as digests
        from app.dispatch.fanout import periodic as fanouts
        from app.webhooks.process import main as worker

        jobs = [retention(settings), reminders(settings), digests(settings), fanouts(settings)]
        worker(settings, periodic=jobs)
        return
    host = getattr(args, "host", "127.0.0.1")
    port = getattr(args, "port", 8000)
    workers = getattr(args, "workers", 1)
    if not os.environ.get("JWT_SECRET") and settings.environment != "production":
        # Workers are separate processes: give them one random secret so a token works on all.
        os.environ["JWT_SECRET"] = settings.jwt_secret
    from app.observability.logs import configure_logging

    configure_logging(settings.log_level, json=settings.log_json)
    made_metrics_dir = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker writes its samples here and /metrics sums them: a scrape sees all workers.
        made_metrics_dir = tempfile.mkdtemp(prefix="mutual-aid-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made_metrics_dir
    try:
        _run(host, port, workers, settings.shutdown_grace_seconds)
    finally:
        if made_metrics_dir is not None:
            shutil.rmtree(made_metrics_dir, ignore_errors=True)


def _run(host: str, port: int, workers: int, grace_seconds: int) -> None:
    import uvicorn

    uvicorn.run(
        "app.main:app",
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        # No access log: its query strings would record where people search from (near=lat,lon).
        # The app logs each request itself, as JSON, by route template.
        access_log=False,
        log_config=None,
        # On SIGTERM: stop accepting, let requests in flight finish, then exit.
        timeout_graceful_shutdown=grace_seconds,
    )


if __name__ == "__main__":
    main()
