"""Candidates and opportunities against an independent brute-force reference, and their privacy."""

import math
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import h3
import httpx
from fastapi import FastAPI
from sqlalchemy import update

from app.geo import round_half_km
from app.needs.models import Need
from app.offers.models import Offer
from tests.factories import NEXT_YEAR, join, member, organization

CENTRE = (51.5, -0.12)
CATEGORIES = ["groceries", "transport", "companionship"]
ZONES = ["UTC", "Europe/London", "America/New_York"]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _coarse(lat: float, lon: float) -> tuple[float, float]:
    lat_c, lon_c = h3.cell_to_latlng(h3.latlng_to_cell(lat, lon, 8))
    return lat_c, lon_c


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(b[1] - a[1]) / 2) ** 2
    )
    return 2 * 6371.0088 * math.asin(math.sqrt(min(1.0, h)))


def _available(need: dict, offer: dict) -> bool:
    """Step through the window five minutes at a time on the volunteer's clock."""
    if need["window_start"] is None or not offer["availability"]:
        return True
    zone = ZoneInfo(offer["timezone"])
    t = datetime.fromisoformat(need["window_start"])
    end = datetime.fromisoformat(need["window_end"])
    while t < end:
        local = t.astimezone(zone)
        minute = local.hour * 60 + local.minute
        for slot in offer["availability"]:
            start = int(slot["start"][:2]) * 60 + int(slot["start"][3:])
            stop = int(slot["end"][:2]) * 60 + int(slot["end"][3:])
            if DAYS.index(slot["day"]) == local.weekday() and start <= minute < stop:
                return True
        t += timedelta(minutes=5)
    return False


def reference(need: dict, offer: dict, vetted_in: set[str]) -> bool:
    """Every hard filter, written from the contract and docs/matching.md, not from app code."""
    if offer["status"] != "active" or offer["active_matches"] >= offer["capacity"]:
        return False
    if offer["volunteer_id"] == need["requester_id"]:
        return False
    if need["category"] not in offer["categories"] or need["mode"] not in offer["modes"]:
        return False
    if need["languages"] and not set(need["languages"]) & set(offer["languages"]):
        return False
    if need["mode"] == "in_person":
        d = _km(
            (need["approx_location"]["lat"], need["approx_location"]["lon"]),
            _coarse(offer["location"]["lat"], offer["location"]["lon"]),
        )
        shown = round_half_km(d)  # reaches compare the distance as shown
        if shown > offer["max_distance_km"] or (
            need["max_distance_km"] is not None and shown > need["max_distance_km"]
        ):
            return False
    for requirement in need["requirements"]:
        if requirement == "background_checked":
            if not need["organization_id"] or need["organization_id"] not in vetted_in:
                return False
        elif requirement not in offer["capabilities"]:
            return False
    return _available(need, offer)


def _point(rng: random.Random, spread: float = 0.06) -> dict:
    return {
        "lat": round(CENTRE[0] + rng.uniform(-spread, spread), 5),
        "lon": round(CENTRE[1] + rng.uniform(-spread, spread), 5),
    }


def _slot(rng: random.Random) -> dict:
    start = rng.randrange(0, 24 * 12 - 1) * 5
    end = min(24 * 60, start + rng.choice([30, 60, 120, 240, 600]))
    fmt = lambda m: f"{m // 60:02d}:{m % 60:02d}"  # noqa: E731
    return {"day": rng.choice(DAYS), "start": fmt(start), "end": fmt(end)}


async def _world(client: httpx.AsyncClient, application: FastAPI, rng: random.Random):
    coordinator = await member(client)
    org = (await organization(client, coordinator))["id"]
    volunteers = [await member(client) for _ in range(12)]
    vetted: dict[str, set[str]] = {}
    for v in volunteers[:4]:
        await join(client, coordinator, org, v, vetted=True)
        vetted[v.id] = {org}
    offers = []
    for _ in range(70):
        v = rng.choice(volunteers)
        body = {
            "categories": rng.sample(CATEGORIES, rng.randint(1, 2)),
            "modes": rng.sample(["in_person", "remote"], rng.randint(1, 2)),
            "location": _point(rng),
            "max_distance_km": rng.choice([1, 2, 3, 5, 8]),
            "availability": [_slot(rng) for _ in range(rng.choice([0, 0, 1, 3]))],
            "timezone": rng.choice(ZONES),
            "capacity": rng.randint(1, 3),
            "languages": rng.sample(["en", "es", "pl"], rng.randint(0, 2)),
            "capabilities": rng.sample(["car", "first_aid", "heavy_lifting"], rng.randint(0, 2)),
        }
        r = await client.post("/v1/offers", json=body, headers=v.headers)
        assert r.status_code == 201, r.text
        offers.append((v, r.json()))
    for v, offer in rng.sample(offers, 10):
        await client.patch(f"/v1/offers/{offer['id']}", json={"status": "paused"}, headers=v.headers)
    full = rng.sample(offers, 6)
    async with application.state.sessionmaker() as session:
        for _, offer in full:  # as if their capacity were taken by matches
            await session.exec(
                update(Offer)
                .where(Offer.id == __import__("uuid").UUID(offer["id"]))
                .values(active_matches=Offer.capacity)
            )
        await session.commit()
    return coordinator, org, volunteers, vetted


async def test_candidates_equal_the_brute_force_reference(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    rng = random.Random(99)
    coordinator, org, volunteers, vetted = await _world(client, application, rng)
    requesters = [await member(client) for _ in range(3)] + volunteers[:2]  # some volunteers ask too
    for r in requesters:
        await join(client, coordinator, org, r)
    nonempty = 0
    for i in range(30):
        who = rng.choice(requesters)
        day = datetime(NEXT_YEAR, 6, rng.randint(10, 20), tzinfo=UTC)
        start = day + timedelta(minutes=5 * rng.randrange(288))
        body = {
            "category": rng.choice(CATEGORIES),
            "title": f"Need {i}",
            "mode": rng.choice(["in_person", "in_person", "remote"]),
            "location": _point(rng),
            "languages": rng.sample(["en", "es", "pl"], rng.choice([0, 0, 1])),
            "requirements": rng.sample(["car", "first_aid", "background_checked"], rng.choice([0, 0, 1])),
            "max_distance_km": rng.choice([None, None, 2.0]),
            "organization_id": rng.choice([None, org]),
        }
        if "background_checked" in body["requirements"]:
            body["organization_id"] = org  # only an organisation's vetting counts
        if rng.random() < 0.5:
            body["window_start"] = start.isoformat()
            body["window_end"] = (start + timedelta(minutes=5 * rng.randint(6, 400))).isoformat()
        need = (
            await client.post(
                "/v1/needs", json={k: v for k, v in body.items() if v is not None}, headers=who.headers
            )
        ).json()
        assert "id" in need, need
        got = (await client.get(f"/v1/needs/{need['id']}/candidates?limit=100", headers=who.headers)).json()[
            "items"
        ]
        all_offers = []
        for v in volunteers:
            page = (await client.get("/v1/offers?limit=100", headers=v.headers)).json()["items"]
            all_offers += page
        expected = {o["id"] for o in all_offers if reference(need, o, vetted.get(o["volunteer_id"], set()))}
        assert {c["offer_id"] for c in got} == expected, (need, len(expected))
        assert [c["score"] for c in got] == sorted((c["score"] for c in got), reverse=True)
        nonempty += bool(expected)
    assert nonempty >= 10  # the reference really found candidates, not only empty sets


async def _freeze_waiting(application: FastAPI) -> None:
    """Needs older than the waiting window score the same a second later."""
    async with application.state.sessionmaker() as session:
        await session.exec(update(Need).values(created_at=datetime.now(UTC) - timedelta(days=5)))
        await session.commit()


async def test_moving_within_a_cell_changes_nothing_anyone_can_read(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    rng = random.Random(5)
    volunteer, requester = await member(client), await member(client)
    home = (51.5003, -0.1201)
    cell = h3.latlng_to_cell(*home, 8)
    elsewhere = next(
        p
        for p in (
            (home[0] + rng.uniform(-0.004, 0.004), home[1] + rng.uniform(-0.006, 0.006)) for _ in range(1000)
        )
        if h3.latlng_to_cell(*p, 8) == cell and _km(p, home) > 0.15
    )
    offer = (
        await client.post(
            "/v1/offers",
            json={
                "categories": ["groceries"],
                "modes": ["in_person"],
                "location": {"lat": home[0], "lon": home[1]},
                "max_distance_km": 6,
            },
            headers=volunteer.headers,
        )
    ).json()
    needs = []
    for bearing in range(0, 360, 30):
        for km in (0.5, 1.3, 2.2, 3.7, 5.1):
            lat = home[0] + km / 111.2 * math.cos(math.radians(bearing))
            lon = home[1] + km / (111.2 * math.cos(math.radians(home[0]))) * math.sin(math.radians(bearing))
            r = await client.post(
                "/v1/needs",
                json={"category": "groceries", "title": "Shop", "location": {"lat": lat, "lon": lon}},
                headers=requester.headers,
            )
            needs.append(r.json()["id"])
    await _freeze_waiting(application)

    async def readings() -> list:
        seen = [
            (
                await client.get(
                    f"/v1/offers/{offer['id']}/opportunities?limit=100", headers=volunteer.headers
                )
            ).json()["items"]
        ]
        seen += [
            (await client.get(f"/v1/needs/{n}/candidates", headers=requester.headers)).json()["items"]
            for n in needs
        ]
        return seen

    before = await readings()
    r = await client.patch(
        f"/v1/offers/{offer['id']}",
        json={"location": {"lat": elsewhere[0], "lon": elsewhere[1]}},
        headers=volunteer.headers,
    )
    assert r.status_code == 200
    after = await readings()
    assert after == before
    assert len(before[0]) > 20  # the opportunities really had distances in them
    assert all(o["distance_km"] * 2 == int(o["distance_km"] * 2) for o in before[0])
