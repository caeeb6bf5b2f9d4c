"""Trust limits per member tier: each limit's problem, new against vetted, organisations' intake free."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.auth.trust import Tier, tier_for
from app.core.config import TRUST_DEFAULTS, Settings, TrustLimits
from app.main import create_app
from tests.conftest import app_for_test, make_settings
from tests.factories import Member, api_key, assert_problem, join, member, need_body, offer_body, organization

NEW = TrustLimits(needs_per_day=1, offers_per_day=1, open_claims=1, offer_reach_km=10, candidates_per_day=2)
VETTED = TrustLimits(
    needs_per_day=3, offers_per_day=3, open_claims=3, offer_reach_km=50, candidates_per_day=5
)
DAY = 24 * 3600


@pytest.fixture
async def limited(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """An app whose every account is new (tight limits) unless an organisation vetted it."""
    async with app_for_test(database_url, trust_new=NEW, trust_member=NEW, trust_vetted=VETTED) as app:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c


def _retry_after(response: httpx.Response) -> int:
    wait = int(response.headers["retry-after"])
    assert 1 <= wait <= DAY
    return wait


async def _vetted(client: httpx.AsyncClient) -> Member:
    coordinator, who = await member(client), await member(client)
    org = (await organization(client, coordinator))["id"]
    await join(client, coordinator, org, who, vetted=True)
    return who


async def _needs(client: httpx.AsyncClient, who: dict[str, str], n: int, **fields: Any) -> list[int]:
    return [
        (await client.post("/v1/needs", json=need_body(**fields), headers=who)).status_code for _ in range(n)
    ]


def test_tiers_by_vetting_and_account_age() -> None:
    settings, now = make_settings("sqlite+aiosqlite://", trust_new_account_days=14), datetime.now(UTC)
    young, old = now - timedelta(days=3), now - timedelta(days=30)
    assert tier_for(created_at=young, vetted=False, settings=settings, now=now) == Tier.new
    assert tier_for(created_at=old, vetted=False, settings=settings, now=now) == Tier.member
    assert tier_for(created_at=young, vetted=True, settings=settings, now=now) == Tier.vetted


def test_one_limit_of_a_tier_is_set_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tier's other limits keep their defaults."""
    monkeypatch.setenv("TRUST_NEW__NEEDS_PER_DAY", "2")
    settings = Settings(jwt_secret="x" * 40)
    assert settings.trust_new == TRUST_DEFAULTS["new"].model_copy(update={"needs_per_day": 2})
    assert settings.trust_member == TRUST_DEFAULTS["member"]


async def test_a_new_member_s_needs_per_day_then_429_with_retry_after(limited: httpx.AsyncClient) -> None:
    m = await member(limited)
    assert await _needs(limited, m.headers, 1) == [201]
    over = await limited.post("/v1/needs", json=need_body(), headers=m.headers)
    body = assert_problem(over, 429)
    assert "at most 1 needs in 24 hours" in body["detail"]
    assert _retry_after(over) >= DAY - 60  # the first need leaves the window in a day
    # Bulk intake is no way around it: the member's own items beyond the allowance are 429.
    batch = await limited.post("/v1/needs/batch", json={"items": [need_body()]}, headers=m.headers)
    assert [r["status"] for r in batch.json()["results"]] == [429]


async def test_a_vetted_member_may_do_more_than_a_new_one(limited: httpx.AsyncClient) -> None:
    new, vetted = await member(limited), await _vetted(limited)
    assert await _needs(limited, new.headers, 2) == [201, 429]
    assert await _needs(limited, vetted.headers, 4) == [201, 201, 201, 429]
    offers = [
        (
            await limited.post("/v1/offers", json=offer_body(max_distance_km=30), headers=vetted.headers)
        ).status_code
        for _ in range(4)
    ]
    assert offers == [201, 201, 201, 429]


async def test_coordinator_and_key_intake_is_not_limited(limited: httpx.AsyncClient) -> None:
    coordinator = await member(limited)
    org = (await organization(limited, coordinator))["id"]
    key = await api_key(limited, coordinator, org, ["needs:read", "needs:write"])
    assert await _needs(limited, coordinator.headers, 4, organization_id=org) == [201] * 4
    assert await _needs(limited, key["headers"], 4) == [201] * 4
    items = {"items": [need_body(organization_id=org) for _ in range(5)]}
    for who in (coordinator.headers, key["headers"]):
        batch = await limited.post("/v1/needs/batch", json=items, headers=who)
        assert [r["status"] for r in batch.json()["results"]] == [201] * 5
    # Their own needs, outside the organisation, count as any member's.
    assert await _needs(limited, coordinator.headers, 2) == [201, 429]


async def test_offers_per_day_then_429_with_retry_after(limited: httpx.AsyncClient) -> None:
    m = await member(limited)
    assert (await limited.post("/v1/offers", json=offer_body(), headers=m.headers)).status_code == 201
    over = await limited.post("/v1/offers", json=offer_body(), headers=m.headers)
    assert "at most 1 offers in 24 hours" in assert_problem(over, 429)["detail"]
    _retry_after(over)


async def test_an_offer_s_reach_is_capped_by_tier_with_a_422_naming_the_cap(
    limited: httpx.AsyncClient,
) -> None:
    m = await member(limited)
    far = await limited.post("/v1/offers", json=offer_body(max_distance_km=10.5), headers=m.headers)
    body = assert_problem(far, 422)
    assert "at most 10 km" in body["detail"]
    assert body["errors"][0]["loc"] == ["body", "max_distance_km"]
    offer = (await limited.post("/v1/offers", json=offer_body(max_distance_km=10), headers=m.headers)).json()
    patch = await limited.patch(f"/v1/offers/{offer['id']}", json={"max_distance_km": 11}, headers=m.headers)
    assert "at most 10 km" in assert_problem(patch, 422)["detail"]
    vetted = await _vetted(limited)
    ok = await limited.post("/v1/offers", json=offer_body(max_distance_km=50), headers=vetted.headers)
    assert ok.status_code == 201, ok.text


async def test_open_claims_per_volunteer_then_409_until_one_ends(limited: httpx.AsyncClient) -> None:
    volunteer, requester, other = await member(limited), await member(limited), await member(limited)
    offer = (await limited.post("/v1/offers", json=offer_body(capacity=5), headers=volunteer.headers)).json()
    here: dict[str, Any] = {"location": {"lat": 51.5, "lon": -0.12}}
    needs = []
    for who in (requester, other):
        r = await limited.post("/v1/needs", json=need_body(**here), headers=who.headers)
        needs.append(r.json()["id"])
    first = await limited.post(
        "/v1/matches", json={"need_id": needs[0], "offer_id": offer["id"]}, headers=volunteer.headers
    )
    assert first.status_code == 201, first.text
    second = {"need_id": needs[1], "offer_id": offer["id"]}
    refused = await limited.post("/v1/matches", json=second, headers=volunteer.headers)
    assert "1 open claims" in assert_problem(refused, 409)["detail"]
    cancelled = await limited.post(f"/v1/matches/{first.json()['id']}/cancel", headers=volunteer.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert (await limited.post("/v1/matches", json=second, headers=volunteer.headers)).status_code == 201


async def test_candidate_lists_per_day_then_429_but_not_for_the_organisation(
    limited: httpx.AsyncClient,
) -> None:
    m, coordinator = await member(limited), await member(limited)
    need = (await limited.post("/v1/needs", json=need_body(), headers=m.headers)).json()["id"]
    lists = [await limited.get(f"/v1/needs/{need}/candidates", headers=m.headers) for _ in range(3)]
    assert [r.status_code for r in lists] == [200, 200, 429]
    assert "at most 2 times in 24 hours" in assert_problem(lists[2], 429)["detail"]
    _retry_after(lists[2])
    org = (await organization(limited, coordinator))["id"]
    filed = (
        await limited.post("/v1/needs", json=need_body(organization_id=org), headers=coordinator.headers)
    ).json()["id"]
    listed = [
        await limited.get(f"/v1/needs/{filed}/candidates", headers=coordinator.headers) for _ in range(4)
    ]
    assert [r.status_code for r in listed] == [200] * 4


@pytest.mark.postgres
@pytest.mark.usefixtures("application")  # an empty database
@pytest.mark.connection_heavy  # two apps of eight connections each
async def test_two_workers_racing_one_member_s_needs_allow_exactly_the_limit(database_url: str) -> None:
    """Two apps (two worker processes' worth: their own engines and limiters) take 12 needs of one
    member at once: the count lives in the database, under a lock on the member's row."""
    limits = TrustLimits(
        needs_per_day=3, offers_per_day=1, open_claims=1, offer_reach_km=10, candidates_per_day=1
    )
    apps = [
        create_app(make_settings(database_url, db_pool_size=8, trust_new=limits, trust_member=limits))
        for _ in range(2)
    ]
    clients = [
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=a, raise_app_exceptions=False), base_url="http://test"
        )
        for a in apps
    ]
    try:
        m = await member(clients[0])
        answers = await asyncio.gather(
            *[clients[i % 2].post("/v1/needs", json=need_body(), headers=m.headers) for i in range(12)]
        )
        assert Counter(r.status_code for r in answers) == {201: 3, 429: 9}
    finally:
        for c in clients:
            await c.aclose()
        for a in apps:
            await a.state.engine.dispose()
