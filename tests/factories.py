"""Synthetic test data: every name, email and phone here is made up."""

import itertools
import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

_seq = itertools.count(1)
PASSWORD = "correct horse battery"
# Need windows must lie within two years from now: next year's dates always do.
NEXT_YEAR = datetime.now(UTC).year + 1
# The first Monday of next year, as "YYYY-MM-DD".
NEXT_MONDAY = (date(NEXT_YEAR, 1, 1) + timedelta(days=-date(NEXT_YEAR, 1, 1).weekday() % 7)).isoformat()


class Member:
    def __init__(self, data: dict[str, Any], token: str) -> None:
        self.data = data
        self.id: str = data["id"]
        self.headers = {"Authorization": f"Bearer {token}"}


async def member(client: httpx.AsyncClient, **overrides: Any) -> Member:
    n = next(_seq)
    body = {
        "email": f"person{n}@example.org",
        "password": PASSWORD,
        "display_name": f"Person {n}",
        "phone": f"+44 7700 900{n % 1000:03d}",
        "languages": ["en"],
    }
    body.update(overrides)
    created = await client.post("/v1/members", json=body)
    assert created.status_code == 201, created.text
    token = await client.post(
        "/v1/auth/token", data={"username": body["email"], "password": body["password"]}
    )
    assert token.status_code == 200, token.text
    return Member(created.json(), token.json()["access_token"])


def need_body(rng: random.Random | None = None, **overrides: Any) -> dict[str, Any]:
    rng = rng or random.Random()
    body: dict[str, Any] = {
        "category": "groceries",
        "title": "Shopping for the week",
        "description": "Bread, milk and fruit.",
        "mode": "in_person",
        "location": {"lat": round(51.45 + rng.random() * 0.1, 6), "lon": round(-0.2 + rng.random() * 0.2, 6)},
        "address": f"Flat {rng.randint(1, 99)}, Example Road",
        "contact": {"name": "Alex Example", "phone": "+44 20 7946 0123"},
    }
    body.update(overrides)
    return body


LONDON = ZoneInfo("Europe/London")


def first_saturday(weeks_ahead: int = 1) -> datetime:
    """10:00 London on the Saturday at least `weeks_ahead` weeks from today (as UTC)."""
    today = datetime.now(UTC).date()
    day = today + timedelta(days=7 * weeks_ahead + (5 - today.weekday()) % 7)
    return datetime.combine(day, time(10), LONDON).astimezone(UTC)


def weekly_series(count: int = 5, **overrides: Any) -> dict[str, Any]:
    """A recurring need's fields: Saturdays 10:00-12:00 London, `count` times from `first_saturday`."""
    start = first_saturday()
    body: dict[str, Any] = {
        "window_start": start.isoformat().replace("+00:00", "Z"),
        "window_end": (start + timedelta(hours=2)).isoformat().replace("+00:00", "Z"),
        "timezone": "Europe/London",
        "recurrence": {"rule": f"FREQ=WEEKLY;COUNT={count}"},
    }
    return body | overrides


def offer_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "categories": ["groceries"],
        "modes": ["in_person"],
        "location": {"lat": 51.5, "lon": -0.12},
        "availability": [{"day": "sat", "start": "10:00", "end": "13:00"}],
        "timezone": "Europe/London",
    }
    body.update(overrides)
    return body


PROBLEM_KEYS = {"type", "title", "status", "detail"}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body.keys() >= PROBLEM_KEYS
    assert body["status"] == status
    assert body["type"].startswith("https://")
    return body


async def insert_needs(application: Any, requester_id: str, points: list[tuple[float, float]]) -> list[str]:
    """Many located needs straight into the database, for search tests that need volume."""
    import uuid as _uuid

    from app.geo import located
    from app.needs.models import Need

    ids = []
    async with application.state.sessionmaker() as session:
        for i, (lat, lon) in enumerate(points):
            need = Need(
                requester_id=_uuid.UUID(requester_id),
                category="errands",
                title=f"Errand {i}",
                urgency="normal",
                mode="in_person",
                **located(lat, lon),
            )
            session.add(need)
            ids.append(str(need.id))
        await session.commit()
    return ids


async def organization(client: httpx.AsyncClient, coordinator: Member, **overrides: Any) -> dict[str, Any]:
    body = {"name": f"Group {next(_seq)}", **overrides}
    r = await client.post("/v1/organizations", json=body, headers=coordinator.headers)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def api_key(
    client: httpx.AsyncClient, coordinator: Member, org_id: str, scopes: list[str]
) -> dict[str, Any]:
    r = await client.post(
        f"/v1/organizations/{org_id}/api-keys",
        json={"name": "Partner system", "scopes": scopes},
        headers=coordinator.headers,
    )
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    data["headers"] = {"Authorization": f"Bearer {data['key']}"}
    return data


async def join(
    client: httpx.AsyncClient,
    coordinator: Member,
    org_id: str,
    who: Member,
    role: str = "volunteer",
    vetted: bool = False,
) -> None:
    r = await client.put(
        f"/v1/organizations/{org_id}/members/{who.id}",
        json={"role": role, "vetted": vetted},
        headers=coordinator.headers,
    )
    assert r.status_code in (200, 201), r.text


ALL_SCOPES = [
    "needs:read",
    "needs:write",
    "offers:read",
    "matches:read",
    "matches:write",
    "matching:run",
    "webhooks:manage",
    "activities:write",
]


async def claim(
    client: httpx.AsyncClient, volunteer: Member, need_id: str, offer_id: str, accept_as: Any = None
) -> dict[str, Any]:
    """A volunteer's claim (201, proposed unless the need's approval is automatic), then, with
    `accept_as` (the need's owner's headers, or a Member), accepted by the need's side."""
    r = await client.post(
        "/v1/matches", json={"need_id": need_id, "offer_id": offer_id}, headers=volunteer.headers
    )
    assert r.status_code == 201, r.text
    match: dict[str, Any] = r.json()
    if accept_as is not None:
        headers = accept_as.headers if isinstance(accept_as, Member) else accept_as
        accepted = await client.post(f"/v1/matches/{match['id']}/accept", headers=headers)
        assert accepted.status_code == 200, accepted.text
        match = accepted.json()
    return match


def activity_body(**overrides: Any) -> dict[str, Any]:
    """A weekly Monday walk at 10:00 London time, ten times, from next year's first Monday."""
    body: dict[str, Any] = {
        "title": "Monday morning walk",
        "description": "An easy hour round the park.",
        "kind": "walk",
        "mode": "in_person",
        "location": {"lat": 51.5074, "lon": -0.1278},
        "address": "Meet at the north gate, Example Park",
        "starts_at": f"{NEXT_MONDAY}T10:00:00Z",
        "ends_at": f"{NEXT_MONDAY}T11:00:00Z",
        "timezone": "Europe/London",
        "recurrence": {"rule": "FREQ=WEEKLY;BYDAY=MO;COUNT=10"},
        "capacity": 2,
        "accessibility": ["step_free"],
        "languages": ["en"],
    }
    body.update(overrides)
    return body


async def activity(client: httpx.AsyncClient, host: Member, **overrides: Any) -> dict[str, Any]:
    r = await client.post("/v1/activities", json=activity_body(**overrides), headers=host.headers)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data
