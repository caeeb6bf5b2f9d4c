"""How good the candidates are: the service's against an exhaustive search, on the same needs.

    uv run python -m bench.quality [--needs 300] [--pool 30] [--max-pool 60] [--walk 10000]

Needs the database bench.candidates loads. The exhaustive search is the same code told to look
at every offer of the kind within reach (a walk and a pool far larger than any neighbourhood)
and keep every eligible one; it is slow, which is why the service does not. Prints the mean
number of candidates returned, and the service's scores as a share of the exhaustive ones: the
top 20 together, and the best alone; and how many of 20 it returns where the exhaustive search
finds 20.
"""

import argparse
import asyncio
import statistics

from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker
from app.dispatch import candidates as service
from app.dispatch import pools
from app.needs.models import Need
from bench.candidates import DEFAULT_DB, random_needs

EVERYTHING = 1_000_000


async def scores(url: str, needs: list[Need], pool: int, max_pool: int, walk: int) -> list[list[float]]:
    service.POOL, service.MAX_POOL, pools.WALK = pool, max_pool, walk
    pools.statement.cache_clear()  # statements hold the walk's length
    engine = make_engine(
        Settings(database_url=url, environment="test", migrate_on_startup=False, db_pool_size=2)
    )
    out = []
    async with make_sessionmaker(engine)() as session:
        for need in needs:
            out.append([r.scored.score for r in await service.candidates(session, need=need, limit=20)])
    await engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--needs", type=int, default=300)
    parser.add_argument("--pool", type=int, default=service.POOL)
    parser.add_argument("--max-pool", type=int, default=service.MAX_POOL)
    parser.add_argument("--walk", type=int, default=pools.WALK)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    needs = random_needs(args.needs, args.seed)
    got = asyncio.run(scores(args.db, needs, args.pool, args.max_pool, args.walk))
    best = asyncio.run(scores(args.db, needs, EVERYTHING, EVERYTHING, EVERYTHING))
    found = [(g, b) for g, b in zip(got, best, strict=True) if b]
    returned, exhaustive = statistics.mean(map(len, got)), statistics.mean(map(len, best))
    full = [len(g) for g, b in zip(got, best, strict=True) if len(b) == 20]
    print(
        f"pool {args.pool} to {args.max_pool}, walk {args.walk}, {args.needs} needs: "
        f"where the exhaustive search finds 20 ({len(full)} needs) {statistics.mean(full):.2f} returned; "
        f"candidates returned {returned:.2f} (exhaustive {exhaustive:.2f}); "
        f"top-20 score sum {statistics.mean(sum(g) / sum(b) for g, b in found):.4f} of the exhaustive; "
        f"best score {statistics.mean((g[0] if g else 0.0) / b[0] for g, b in found):.4f} of the exhaustive"
    )


if __name__ == "__main__":
    main()
