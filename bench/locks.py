"""What a database's sessions wait on while a benchmark runs: samples `pg_stat_activity` and
`pg_locks` on an interval and prints, per statement, how often it was seen active, waiting on a
lock (and on which relation, behind which statement) or waiting on anything else.

    uv run python -m bench.locks --db postgresql+psycopg://postgres@127.0.0.1:5432/<database> --seconds 30

Run it beside `bench.load` (or any load) against the database that load uses; it reads only
catalog views, one short query per sample, on one connection of its own.
"""

import argparse
import time
from collections import Counter

import psycopg

SAMPLE = """
SELECT a.pid,
       a.state,
       coalesce(a.wait_event_type, '') AS wait_type,
       coalesce(a.wait_event, '') AS wait_event,
       left(regexp_replace(a.query, '\\s+', ' ', 'g'), %(width)s) AS query,
       (SELECT string_agg(DISTINCT coalesce(l.relation::regclass::text, l.locktype), ',')
          FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted) AS waiting_for,
       (SELECT left(regexp_replace(b.query, '\\s+', ' ', 'g'), %(width)s)
          FROM pg_stat_activity b WHERE b.pid = (pg_blocking_pids(a.pid))[1]) AS blocker,
       (SELECT b.state FROM pg_stat_activity b WHERE b.pid = (pg_blocking_pids(a.pid))[1]) AS blocker_state
  FROM pg_stat_activity a
 WHERE a.datname = %(db)s AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend'
"""


def sample(url: str, seconds: float, every: float, width: int) -> None:
    database = url.rsplit("/", 1)[1]
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    active: Counter[str] = Counter()
    lock_waits: Counter[tuple[str, str, str, str]] = Counter()
    other_waits: Counter[tuple[str, str]] = Counter()
    idle_in_tx = 0
    samples = 0
    deadline = time.monotonic() + seconds
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            rows = conn.execute(SAMPLE, {"db": database, "width": width}).fetchall()
            samples += 1
            for _pid, state, wait_type, wait_event, query, waiting_for, blocker, blocker_state in rows:
                if state == "idle in transaction":
                    idle_in_tx += 1
                if state != "active":
                    continue
                active[query] += 1
                if wait_type == "Lock":
                    held_by = f"{blocker_state}: {blocker}" if blocker else "?"
                    lock_waits[(query, f"{wait_event} on {waiting_for or '?'}", held_by, "")] += 1
                elif wait_type and wait_type != "Client":
                    other_waits[(query, f"{wait_type}:{wait_event}")] += 1
            time.sleep(every)
    print(f"{samples} samples of {database}, every {every} s")
    print(f"sessions idle in a transaction, summed over samples: {idle_in_tx}")
    print(f"active statements, summed over samples: {sum(active.values())}")
    print(f"of which waiting on a lock: {sum(lock_waits.values())}")
    print("\nactive statements (seen in N samples):")
    for query, n in active.most_common(12):
        print(f"  {n:6d}  {query}")
    print("\nwaiting on a lock (N samples): statement / lock / the first blocker's state and statement")
    for (query, lock, held_by, _), n in lock_waits.most_common(12):
        print(f"  {n:6d}  {query}\n          {lock}\n          behind {held_by}")
    print("\nother waits (N samples):")
    for (query, wait), n in other_waits.most_common(8):
        print(f"  {n:6d}  {wait}  {query}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", required=True)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--every", type=float, default=0.2, help="seconds between samples")
    parser.add_argument("--width", type=int, default=110, help="characters of each statement shown")
    args = parser.parse_args()
    sample(args.db, args.seconds, args.every, args.width)


if __name__ == "__main__":
    main()
