"""`python -m app seed`: a synthetic neighbourhood in the configured database, through the API itself.

Every person, phone and address is made up. Going through HTTP (in process, so no server need be
running) means the demo data passes the same validation, privacy rules and matching as real data.
Running it again changes nothing; `reset=True` (`--reset`) first deletes the demo organisation, its
members and everything that refers to them.
"""

import asyncio
import logging
import random
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import ColumnElement, Connection, Table, delete, false, or_, select
from sqlmodel import SQLModel

import app.models  # noqa: F401  (every table in the metadata, for the reset)
from app.core.config import TRUST_DEFAULTS, Settings, TrustLimits, get_settings
from app.main import create_app
from bench import city  # the same synthetic city the benchmarks use

PASSWORD = "mutual-aid-demo"  # noqa: S105  (a demo account's password, printed for the newcomer)
ORGANIZATION = "Riverside Mutual Aid"
COORDINATOR = "coordinator@example.org"
FIRST = [
    "Ada",
    "Bo",
    "Cai",
    "Dee",
    "Eli",
    "Fen",
    "Gus",
    "Hal",
    "Ivy",
    "Jo",
    "Kit",
    "Lou",
    "Mo",
    "Ned",
    "Oli",
    "Pat",
]
LAST = ["Ash", "Birch", "Cedar", "Dale", "Elm", "Fern", "Glen", "Heath", "Ivy", "Juniper", "Kale", "Lark"]


async def _member(c: httpx.AsyncClient, email: str, name: str, rng: random.Random) -> dict[str, str]:
    body = {
        "email": email,
        "password": PASSWORD,
        "display_name": name,
        "phone": f"+44 7700 9{rng.randint(10000, 99999)}",
        "languages": ["en"],
    }
    r = await c.post("/v1/members", json=body)
    if r.status_code == 409:  # seeded before: log in instead
        pass
    elif r.status_code != 201:
        raise RuntimeError(r.text)
    token = await c.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
    token.raise_for_status()
    me = await c.get("/v1/members/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    return {"id": me.json()["id"], "Authorization": f"Bearer {token.json()['access_token']}"}


def _headers(m: dict[str, str]) -> dict[str, str]:
    return {"Authorization": m["Authorization"]}


def _demo_organizations(conn: Connection) -> list[uuid.UUID]:
    organizations = SQLModel.metadata.tables["organizations"]
    return list(
        conn.execute(select(organizations.c.id).where(organizations.c.name == ORGANIZATION)).scalars()
    )


def _demo_members(conn: Connection, organization_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    members = SQLModel.metadata.tables["members"]
    memberships = SQLModel.metadata.tables["organization_members"]
    ids = set(conn.execute(select(members.c.id).where(members.c.email == COORDINATOR)).scalars())
    in_demo = memberships.c.organization_id.in_(organization_ids)
    return ids | set(conn.execute(select(memberships.c.member_id).where(in_demo)).scalars())


def _referring(table: Table, doomed: dict[str, set[Any]]) -> ColumnElement[bool]:
    """Rows of `table` that are doomed themselves or point at a doomed row."""
    clauses: list[ColumnElement[bool]] = []
    if table.name in doomed and "id" in table.c:
        clauses.append(table.c.id.in_(doomed[table.name]))
    for column in table.columns:
        for key in column.foreign_keys:
            targets = doomed.get(key.column.table.name)
            if targets:
                clauses.append(column.in_(targets))
    return or_(*clauses) if clauses else false()


def _delete_demo(conn: Connection) -> int:
    """Delete the demo organisations, their members and every row that refers to them, children
    first. Found through the foreign keys, so tables added later are covered too. Returns how
    many organisations were deleted."""
    organization_ids = _demo_organizations(conn)
    doomed: dict[str, set[Any]] = {
        "organizations": set(organization_ids),
        "members": _demo_members(conn, organization_ids),
    }
    tables: Iterable[Table] = SQLModel.metadata.sorted_tables  # parents before children
    for table in tables:
        if "id" in table.c and table.name not in ("organizations", "members"):
            found = conn.execute(select(table.c.id).where(_referring(table, doomed))).scalars()
            doomed[table.name] = set(found)
    for table in reversed(SQLModel.metadata.sorted_tables):
        conn.execute(delete(table).where(_referring(table, doomed)))
    return len(organization_ids)


# As free as the settings allow: for one client doing the work of many people (the demo, tests).
UNLIMITED_TRUST = TrustLimits(
    needs_per_day=100_000,
    offers_per_day=100_000,
    open_claims=100_000,
    offer_reach_km=200,
    candidates_per_day=1_000_000,
)


def unlimited_trust_environment() -> dict[str, str]:
    """UNLIMITED_TRUST for every tier, as the environment of a server process (benchmarks, tests
    that start a real server)."""
    return {
        f"TRUST_{tier.upper()}__{name.upper()}": str(value)
        for tier in TRUST_DEFAULTS
        for name, value in UNLIMITED_TRUST.model_dump().items()
    }


async def seed(
    settings: Settings | None = None,
    *,
    volunteers: int = 30,
    requesters: int = 20,
    needs: int = 60,
    seed_value: int = 7,
    reset: bool = False,
    verbose: bool = False,
) -> dict[str, Any]:
    """Load the demo unless it is there already. Returns `{organization_id, created, members,
    needs, proposed_matches}`, the counts as found in the database when nothing was created."""
    rng = random.Random(seed_value)  # noqa: S311  (synthetic demo data, not secrets)
    hoods = city.neighbourhoods(rng, n=6, radius_km=4)
    # The seeder is one client making hundreds of calls: lift the per-caller limits for it alone.
    unlimited = "1000000/minute"
    update: dict[str, Any] = {
        "rate_limit_member": unlimited,
        "rate_limit_anonymous": unlimited,
        "rate_limit_auth_failures": unlimited,
        # Its members are all new accounts: the trust limits would stop the demo at a few each.
        **{f"trust_{tier}": UNLIMITED_TRUST for tier in ("new", "member", "vetted")},
    }
    app = create_app((settings or get_settings()).model_copy(update=update))
    root = logging.getLogger()
    level = root.level
    if not verbose:
        # A line per request (and per migration step) would bury the two lines that matter.
        # Set here, not through settings: logging is configured once per process, on import.
        root.setLevel(logging.WARNING)
    try:
        sizes = {"volunteers": volunteers, "requesters": requesters, "needs": needs}
        return await _load(app, rng, hoods, reset=reset, **sizes)
    finally:
        root.setLevel(level)


async def _load(
    app: FastAPI, rng: random.Random, hoods: Any, *, reset: bool, volunteers: int, requesters: int, needs: int
) -> dict[str, Any]:
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://seed") as c,
    ):
        async with app.state.engine.begin() as conn:
            if reset:
                await conn.run_sync(_delete_demo)
            existing = await conn.run_sync(_demo_organizations)
            members = len(await conn.run_sync(_demo_members, existing))
        if existing:
            return {**await _found(c, existing[0]), "members": members}
        return await _create(c, rng, hoods, volunteers=volunteers, requesters=requesters, needs=needs)


async def _found(c: httpx.AsyncClient, organization_id: uuid.UUID) -> dict[str, Any]:
    """What the demo already holds, as its coordinator sees it."""
    token = await c.post("/v1/auth/token", data={"username": COORDINATOR, "password": PASSWORD})
    token.raise_for_status()
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

    async def count(path: str, **filters: str) -> int:
        # The filters go with the page's parameters: httpx replaces a URL's query string with
        # `params` rather than adding to it, so filters written into `path` would be dropped.
        total, cursor = 0, None
        while True:
            params = {**filters, "limit": "100", **({"cursor": cursor} if cursor else {})}
            page = await c.get(path, headers=headers, params=params)
            page.raise_for_status()
            total += len(page.json()["items"])
            cursor = page.json()["next_cursor"]
            if not cursor:
                return total

    return {
        "organization_id": str(organization_id),
        "created": False,
        "needs": await count("/v1/needs", organization_id=str(organization_id)),
        "proposed_matches": await count("/v1/matches", status="proposed"),
    }


async def _create(
    c: httpx.AsyncClient,
    rng: random.Random,
    hoods: Any,
    *,
    volunteers: int,
    requesters: int,
    needs: int,
) -> dict[str, Any]:
    coordinator = await _member(c, COORDINATOR, "Sam Coordinator", rng)
    org = await c.post(
        "/v1/organizations",
        headers=_headers(coordinator),
        json={
            "name": ORGANIZATION,
            "description": "Neighbours helping neighbours (demo data).",
            "service_area": {"lat": city.CENTRE[0], "lon": city.CENTRE[1], "radius_km": 8},
        },
    )
    org_id = org.json()["id"]
    helpers = []
    for i in range(volunteers):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        v = await _member(c, f"volunteer{i}@example.org", name, rng)
        await c.put(
            f"/v1/organizations/{org_id}/members/{v['id']}",
            headers=_headers(coordinator),
            json={"role": "volunteer", "vetted": rng.random() < 0.4},
        )
        f = city.offer_fields(rng, hoods)
        await c.post(
            "/v1/offers",
            headers=_headers(v),
            json={
                "categories": f["categories"],
                "modes": f["modes"],
                "location": {"lat": f["lat"], "lon": f["lon"]},
                "max_distance_km": f["max_distance_km"],
                "availability": f["availability"],
                "timezone": "Europe/London",
                "capacity": f["capacity"],
                "languages": f["languages"],
                "capabilities": f["capabilities"],
                "organization_id": org_id,
            },
        )
        helpers.append(v)
    people = [
        await _member(c, f"neighbour{i}@example.org", f"{rng.choice(FIRST)} {rng.choice(LAST)}", rng)
        for i in range(requesters)
    ]
    for p in people:
        await c.put(
            f"/v1/organizations/{org_id}/members/{p['id']}",
            headers=_headers(coordinator),
            json={"role": "volunteer"},
        )
    now = datetime.now(UTC)
    for i in range(needs):
        f = city.need_fields(rng, hoods, now)
        body: dict[str, Any] = {
            "category": f["category"],
            "title": f"{f['category'].replace('_', ' ').capitalize()} ({i + 1})",
            "mode": f["mode"],
            "urgency": f["urgency"],
            "location": {"lat": f["lat"], "lon": f["lon"]},
            "address": f"{rng.randint(1, 120)} Example Street",
            "languages": f["languages"],
            "contact": {"name": rng.choice(FIRST), "phone": f"+44 20 7946 {rng.randint(1000, 9999)}"},
            "requirements": f["requirements"],
            "volunteers_needed": f["volunteers_needed"],
            "organization_id": org_id,
            "visibility": rng.choice(["public", "public", "organization"]),
        }
        if f["window"]:
            start = now + timedelta(hours=rng.randint(2, 120))
            body["window_start"], body["window_end"] = (
                start.isoformat(),
                (start + timedelta(hours=6)).isoformat(),
            )
        r = await c.post("/v1/needs", headers=_headers(rng.choice(people)), json=body)
        r.raise_for_status()
    run = await c.post(
        "/v1/matching/runs",
        headers=_headers(coordinator),
        json={"organization_id": org_id, "dry_run": False},
    )
    run.raise_for_status()
    return {
        "organization_id": org_id,
        "created": True,
        "members": volunteers + requesters + 1,
        "needs": needs,
        "proposed_matches": len(run.json()["assignments"]),
    }


def main(*, reset: bool = False, verbose: bool = False) -> None:
    summary = asyncio.run(seed(reset=reset, verbose=verbose))
    counts = (
        f"{summary['members']} members, {summary['needs']} needs and "
        f"{summary['proposed_matches']} proposed matches for organisation {summary['organization_id']}"
    )
    if summary["created"]:
        print(f"Seeded {counts}.")
    else:
        print(f"The demo data is already there ({counts}); nothing changed. `--reset` recreates it.")
    print(
        f"Log in at /docs (Authorize) as coordinator@example.org, volunteer0@example.org or "
        f"neighbour0@example.org with the password {PASSWORD!r}."
    )
