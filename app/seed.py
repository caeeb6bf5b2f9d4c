"""`python -m app seed`: a synthetic neighbourhood in the configured database, through the API itself.

Every person, phone and address is made up. Going through HTTP (in process) means the demo data
passes the same validation, privacy rules and matching as real data.
"""

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from app.core.config import Settings, get_settings
from app.main import create_app
from bench import city  # the same synthetic city the benchmarks use

PASSWORD = "mutual-aid-demo"  # noqa: S105  (a demo account's password, printed for the newcomer)
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


async def seed(
    settings: Settings | None = None,
    *,
    volunteers: int = 30,
    requesters: int = 20,
    needs: int = 60,
    seed_value: int = 7,
) -> dict[str, Any]:
    rng = random.Random(seed_value)  # noqa: S311  (synthetic demo data, not secrets)
    hoods = city.neighbourhoods(rng, n=6, radius_km=4)
    # The seeder is one client making hundreds of calls: lift the per-caller limits for it alone.
    unlimited = "1000000/minute"
    app = create_app(
        (settings or get_settings()).model_copy(
            update={
                "rate_limit_member": unlimited,
                "rate_limit_anonymous": unlimited,
                "rate_limit_auth_failures": unlimited,
            }
        )
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://seed") as c,
    ):
        coordinator = await _member(c, "coordinator@example.org", "Sam Coordinator", rng)
        org = await c.post(
            "/v1/organizations",
            headers=_headers(coordinator),
            json={
                "name": "Riverside Mutual Aid",
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
        "members": volunteers + requesters + 1,
        "needs": needs,
        "proposed_matches": len(run.json()["assignments"]),
    }


def main() -> None:
    summary = asyncio.run(seed())
    print(
        f"Seeded {summary['members']} members, {summary['needs']} needs and "
        f"{summary['proposed_matches']} proposed matches for organisation {summary['organization_id']}."
    )
    print(
        f"Log in at /docs (Authorize) as coordinator@example.org, volunteer0@example.org or "
        f"neighbour0@example.org with the password {PASSWORD!r}."
    )
