"""A mixed workload against a real server on Postgres, beside a minimal endpoint in the same run.

    uv run python -m bench.load [--workers 2] [--concurrency 32] [--seconds 30]

Creates its own database (dropped and made again on each run), starts `python -m app serve`
with that many worker processes, signs up synthetic volunteers (each with an offer) and
people asking for help (each with open needs) through the API, then measures, with the same
number of concurrent clients: first `GET /healthz` alone (the baseline: HTTP, middleware and
JSON, no database), then a mix of reads, creates, candidate queries, claims, inbox reads and
match messages. Half the volunteers opt in to alerts of new needs nearby, so creating a need
fans out to them (`need.nearby`), and some pairs are matched before the mix so that messages
have matches to go to from its first second. It prints requests per second and p50/p99 per
operation. An error is a 5xx, a failed connection, or any status the operation cannot
legitimately return (a claim may lose a race: 409 is expected).
"""

import argparse
import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable

import httpx
import psycopg

from bench.live import Tally, fresh_database, near, need_body, offer_body, sign_up, start_server

DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/mutual_aid_load"


class World:
    """What the workload knows: who can call, which needs are open, which pairs to claim."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.requesters: list[dict[str, str]] = []
        self.volunteers: list[dict[str, str]] = []
        self.offer_owner: dict[str, dict[str, str]] = {}
        self.open_needs: list[tuple[str, dict[str, str]]] = []
        self.claimable: list[tuple[str, str]] = []
        self.matches: list[tuple[str, dict[str, str], dict[str, str]]] = []  # (id, volunteer, requester)
        self.people: list[dict[str, str]] = []  # everyone, for inbox reads


ALERTS = {"email": False, "push": False, "alerts": {"enabled": True, "radius_km": 5.0}}


async def populate(
    client: httpx.AsyncClient,
    world: World,
    volunteers: int,
    requesters: int,
    needs: int,
    matches: int = 0,
    alerts: bool = False,
) -> None:
    """Members, offers and needs through the API; with `alerts`, half the volunteers opted in to
    alerts of new needs nearby; `matches` pairs claimed and accepted."""
    for n in range(volunteers):
        volunteer = await sign_up(client, "volunteer", n)
        offer = await client.post("/v1/offers", json=offer_body(world.rng), headers=_auth(volunteer))
        offer.raise_for_status()
        if alerts and n % 2 == 0:
            opted = await client.put(
                "/v1/members/me/notification-settings", json=ALERTS, headers=_auth(volunteer)
            )
            opted.raise_for_status()
        world.volunteers.append(volunteer)
        world.offer_owner[offer.json()["id"]] = volunteer
    for n in range(requesters):
        requester = await sign_up(client, "neighbour", n)
        world.requesters.append(requester)
        for _ in range(needs):
            created = await client.post("/v1/needs", json=need_body(world.rng), headers=_auth(requester))
            created.raise_for_status()
            world.open_needs.append((created.json()["id"], requester))
    world.people = [*world.volunteers, *world.requesters]
    # Matches for messages to go to from the start: the best candidate claims, the requester accepts.
    quiet = Tally()
    for _ in range(4 * matches):
        if len(world.matches) >= matches:
            break
        await candidates(client, world, quiet)
        await claim(client, world, quiet)
    if sum(quiet.errors.values()):
        raise RuntimeError(f"populating matches failed: {dict(quiet.statuses)}")


def _auth(actor: dict[str, str]) -> dict[str, str]:
    return {"Authorization": actor["Authorization"]}


Operation = Callable[[httpx.AsyncClient, World, Tally], Awaitable[None]]


async def _timed(
    tally: Tally, op: str, expected: set[int], call: Awaitable[httpx.Response]
) -> httpx.Response | None:
    started = time.perf_counter()
    try:
        response = await call
    except httpx.HTTPError:
        tally.record(op, time.perf_counter() - started, 599, expected)
        return None
    tally.record(op, time.perf_counter() - started, response.status_code, expected)
    return response


async def read_need(client: httpx.AsyncClient, world: World, tally: Tally) -> None:
    need_id, _ = world.rng.choice(world.open_needs)
    viewer = world.rng.choice(world.volunteers)
    await _timed(tally, "GET /needs/{id}", {200}, client.get(f"/v1/needs/{need_id}", headers=_auth(viewer)))


async def search_near(client: httpx.AsyncClient, world: World, tally: Tally) -> None:
    point = near(world.rng)
    params: dict[str, str | float] = {"near": f"{point['lat']},{point['lon']}", "radius_km": 3, "limit": 20}
    viewer = world.rng.choice(world.volunteers)
    await _timed(
        tally, "GET /needs?near", {200}, client.get("/v1/needs", params=params, headers=_auth(viewer))
    )


async def create_need(client: httpx.AsyncClient, world: World, tally: Tally) -> None:
    requester = world.rng.choice(world.requesters)
    call = client.post("/v1/needs", json=need_body(world.rng), headers=_auth(requester))
    response = await _timed(tally, "POST /needs", {201}, call)
    if response is not None and response.status_code == 201:
        world.open_needs.append((response.json()["id"], requester))


async def candidates(client: httpx.AsyncClient, world: World, tally: Tally) -> None:
    need_id, requester = world.rng.choice(world.open_needs)
    call = client.get(f"/v1/needs/{need_id}/candidates", params={"limit": 10}, headers=_auth(requester))
    response = await _timed(tally, "GET candidates", {200}, call)
    if response is not None and response.status_code == 200 and response.json()["items"]:
        world.claimable.append((need_id, response.json()["items"][0]["offer_id"]))


async def claim(client: httpx.AsyncClient, world: World, tally: Tally) -> None:
    if not world.claimable:
        await candidates(client, world, tally)
        return
    need_id, offer_id = world.claimable.pop(world.rng.randrange(len(world.claimable)))
    volunteer = world.offer_owner[offer_id]
    body = {"need_id": need_id, "offer_id": offer_id}
    # 409: another client claimed the need first, or the pair is already joined.
    response = await _timed(
        tally,
        "POST /matches (claim)",
        {201, 409},
        client.post("/v1/matches", json=body, headers=_auth(volunteer)),
    )
    if response is None or response.status_code != 201:
        return
    match_id = response.json()["id"]
    # A claim waits for the requester (approval `requester`, the default): they accept it, which
    # is where the slot is taken; 409 when another claim took the need's last slot first.
    requester = next((r for n, r in world.open_needs if n == need_id), None)
    if requester is None:
        return
    world.matches.append((match_id, volunteer, requester))
    accept = client.post(f"/v1/matches/{match_id}/accept", headers=_auth(requester))
    accepted = await _timed(tally, "POST /matches/{id}/accept", {200, 409}, accept)
    if accepted is not None and accepted.status_code == 200:
        world.open_needs = [(n, r) for n, r in world.open_needs if n != need_id]


async def read_inbox(client: httpx.AsyncClient, world: World, tally: Tally) -> None:
    reader = world.rng.choice(world.people)
    call = client.get("/v1/notifications", params={"limit": 20}, headers=_auth(reader))
    await _timed(tally, "GET /notifications", {200}, call)


def _side(world: World) -> tuple[str, dict[str, str]] | None:
    if not world.matches:
        return None
    match_id, volunteer, requester = world.rng.choice(world.matches)
    return match_id, world.rng.choice([volunteer, requester])


async def read_messages(client: httpx.AsyncClient, world: World, tally: Tally) -> None:
    if (side := _side(world)) is None:
        await claim(client, world, tally)
        return
    match_id, who = side
    call = client.get(f"/v1/matches/{match_id}/messages", params={"limit": 20}, headers=_auth(who))
    await _timed(tally, "GET /matches/{id}/messages", {200}, call)


async def post_message(client: httpx.AsyncClient, world: World, tally: Tally) -> None:
    if (side := _side(world)) is None:
        await claim(client, world, tally)
        return
    match_id, who = side
    body = {"body": "I can come by on Saturday morning, does that suit you?"}
    call = client.post(f"/v1/matches/{match_id}/messages", json=body, headers=_auth(who))
    await _timed(tally, "POST /matches/{id}/messages", {201}, call)


MIX: list[tuple[Operation, int]] = [
    (read_need, 20),
    (search_near, 14),
    (create_need, 12),
    (candidates, 14),
    (claim, 10),
    (read_inbox, 14),
    (read_messages, 8),
    (post_message, 8),
]


async def healthz(client: httpx.AsyncClient, _world: World, tally: Tally) -> None:
    await _timed(tally, "GET /healthz (baseline)", {200}, client.get("/healthz"))


async def run_phase(
    base: str, world: World, concurrency: int, seconds: float, ops: list[tuple[Operation, int]]
) -> tuple[Tally, float]:
    tally = Tally()
    functions, weights = zip(*ops, strict=True)
    deadline = time.perf_counter() + seconds

    async def user(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            await world.rng.choices(functions, weights)[0](client, world, tally)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(user(client) for _ in range(concurrency)))
        return tally, time.perf_counter() - started


async def main_async(args: argparse.Namespace) -> None:
    world = World(random.Random(args.seed))
    # Alerts capped only far above what the mix creates, so every need fans out as designed.
    server = start_server(args.db, workers=args.workers, pool_size=args.pool_size, ALERTS_PER_DAY="1000")
    try:
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
            started = time.perf_counter()
            await populate(
                client,
                world,
                args.volunteers,
                args.requesters,
                args.needs_per_requester,
                matches=args.matches,
                alerts=True,
            )
            print(
                f"populated through the API in {time.perf_counter() - started:.1f} s: "
                f"{len(world.volunteers)} volunteers with an offer each (half opted in to alerts), "
                f"{len(world.requesters)} requesters, {len(world.open_needs)} open needs, "
                f"{len(world.matches)} matches"
            )
        baseline, elapsed = await run_phase(
            server.base, world, args.concurrency, args.baseline_seconds, [(healthz, 1)]
        )
        print(baseline.report("baseline", elapsed))
        mixed, elapsed = await run_phase(server.base, world, args.concurrency, args.seconds, MIX)
        print(mixed.report("mixed workload", elapsed))
        print(alerts_written(args.db, "at the mix's end"))
        await asyncio.sleep(ALERTS_GRACE)
        print(alerts_written(args.db, f"{ALERTS_GRACE:.0f} s later"))
    finally:
        print(f"server stopped with exit status {server.stop()}")


# Alerts are sent after the need's request has answered: how long to let the last ones finish.
ALERTS_GRACE = 5.0


def alerts_written(url: str, when: str) -> str:
    """The `need.nearby` alerts in the database, and the fan-outs still to send (if the schema
    has them), so a run shows that the needs it created were alerted."""
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        alerts = conn.execute("SELECT count(*) FROM notifications WHERE type = 'need.nearby'").fetchone()
        table = conn.execute("SELECT to_regclass('alert_fanouts') IS NOT NULL").fetchone()
        left = None
        if table and table[0]:
            left = conn.execute("SELECT count(*) FROM alert_fanouts").fetchone()
    tail = "" if left is None else f", fan-outs still to send {left[0]}"
    return f"{when}: need.nearby alerts {alerts[0] if alerts else 0}{tail}"


def main() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request would drown the figures
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pool-size", type=int, default=20, help="connections per worker")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--baseline-seconds", type=float, default=10)
    parser.add_argument("--volunteers", type=int, default=100)
    parser.add_argument("--requesters", type=int, default=100)
    parser.add_argument("--needs-per-requester", type=int, default=5)
    parser.add_argument("--matches", type=int, default=50, help="pairs matched before the mix")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(f"database {args.db.rsplit('/', 1)[1]}: created fresh and migrated")
    fresh_database(args.db)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
