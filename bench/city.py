"""A synthetic city: clustered neighbourhoods, realistic category mix, weekly availability.

Everything is random and made up; the same seed gives the same city.
"""

import math
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

CENTRE = (51.5074, -0.1278)
CATEGORY_MIX = {
    "groceries": 22,
    "meals": 12,
    "transport": 14,
    "errands": 10,
    "household": 8,
    "childcare": 4,
    "pet_care": 4,
    "companionship": 10,
    "emotional_support": 6,
    "skills": 4,
    "community_project": 3,
    "other": 3,
}
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@dataclass(frozen=True)
class Neighbourhood:
    lat: float
    lon: float
    spread_km: float
    weight: float


def neighbourhoods(rng: random.Random, n: int = 40, radius_km: float = 15.0) -> list[Neighbourhood]:
    out = []
    for _ in range(n):
        r, a = radius_km * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
        lat = CENTRE[0] + r * math.cos(a) / 111.2
        lon = CENTRE[1] + r * math.sin(a) / (111.2 * math.cos(math.radians(CENTRE[0])))
        out.append(Neighbourhood(lat, lon, rng.uniform(0.4, 2.0), rng.paretovariate(1.5)))
    return out


def point(rng: random.Random, hoods: list[Neighbourhood]) -> tuple[float, float]:
    """Mostly inside a neighbourhood (people cluster), some anywhere in the city."""
    if rng.random() < 0.1:
        hood = Neighbourhood(CENTRE[0], CENTRE[1], 10.0, 1.0)
    else:
        hood = rng.choices(hoods, weights=[h.weight for h in hoods])[0]
    dy, dx = rng.gauss(0, hood.spread_km), rng.gauss(0, hood.spread_km)
    return (
        round(hood.lat + dy / 111.2, 6),
        round(hood.lon + dx / (111.2 * math.cos(math.radians(hood.lat))), 6),
    )


def category(rng: random.Random) -> str:
    return rng.choices(list(CATEGORY_MIX), weights=list(CATEGORY_MIX.values()))[0]


def availability(rng: random.Random) -> list[dict[str, str]]:
    slots = []
    for _ in range(rng.choice([0, 1, 2, 2, 3, 4])):
        start = rng.choice([7, 8, 9, 10, 12, 14, 16, 17, 18, 19]) * 60 + rng.choice([0, 30])
        end = min(24 * 60, start + rng.choice([60, 120, 180, 240]))
        slots.append(
            {
                "day": rng.choice(DAYS),
                "start": f"{start // 60:02d}:{start % 60:02d}",
                "end": "24:00" if end == 24 * 60 else f"{end // 60:02d}:{end % 60:02d}",
            }
        )
    return slots


def offer_fields(rng: random.Random, hoods: list[Neighbourhood]) -> dict[str, Any]:
    lat, lon = point(rng, hoods)
    modes = rng.choices([["in_person"], ["in_person", "remote"], ["remote"]], weights=[70, 20, 10])[0]
    return {
        "categories": sorted({category(rng) for _ in range(rng.choice([1, 1, 2, 3]))}),
        "modes": modes,
        "lat": lat,
        "lon": lon,
        "max_distance_km": float(rng.choice([1, 2, 3, 3, 5, 5, 8, 10, 15])),
        "availability": availability(rng),
        "timezone": "Europe/London",
        "capacity": rng.choice([1, 1, 2, 3]),
        "languages": ["en", *rng.sample(["es", "pl", "bn", "ur", "pt", "fr"], rng.choice([0, 0, 0, 1]))],
        "capabilities": rng.sample(
            ["car", "heavy_lifting", "first_aid", "pet_friendly"], rng.choice([0, 0, 1, 2])
        ),
    }


def need_fields(rng: random.Random, hoods: list[Neighbourhood], now: datetime) -> dict[str, Any]:
    lat, lon = point(rng, hoods)
    cat = category(rng)
    remote = cat in ("companionship", "emotional_support", "skills") and rng.random() < 0.6
    window = None
    if rng.random() < 0.5:
        start = now + timedelta(hours=rng.randint(1, 24 * 6))
        window = (start, start + timedelta(hours=rng.choice([1, 2, 4, 8, 24, 72])))
    return {
        "category": cat,
        "mode": "remote" if remote else "in_person",
        "lat": lat,
        "lon": lon,
        "urgency": rng.choices(["low", "normal", "high", "urgent"], weights=[20, 55, 18, 7])[0],
        "volunteers_needed": rng.choices([1, 2, 3], weights=[85, 12, 3])[0],
        "languages": rng.choice([[], [], [], ["en"], ["es"], ["pl"]]),
        "requirements": rng.choice([[], [], [], [], ["car"], ["heavy_lifting"], ["first_aid"]]),
        "window": window,
        "created_at": now - timedelta(hours=rng.uniform(0, 96)),
    }


def ids(n: int, rng: random.Random) -> list[uuid.UUID]:
    return [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(n)]


NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
