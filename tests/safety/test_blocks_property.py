"""Property: in any neighbourhood of needs, offers and blocks, no blocked pair ever meets.

Hypothesis draws the neighbourhood; each example is played over HTTP against the test app:
candidates, opportunities and a batch run's assignment never join a requester and a volunteer
either of whom blocked the other, and a claim or proposal between them is 404 whoever asks.
Hypothesis runs in a worker thread and each example on the test's event loop (anyio), since
its `@given` functions cannot themselves be coroutines.
"""

import itertools
from dataclasses import dataclass
from typing import Any

import httpx
from anyio import from_thread, to_thread
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import Member, join, member, need_body, offer_body, organization

CATEGORIES = ["groceries", "errands"]
MODES = ["in_person", "remote"]
PEOPLE = 4
_places = itertools.count()


@dataclass(frozen=True)
class Hood:
    needs: list[tuple[int, str, str]]  # (requester, category, mode)
    offers: list[tuple[int, list[str], list[str]]]  # (volunteer, categories, modes)
    blocks: list[tuple[int, int]]  # (blocker, blocked)


person = st.integers(0, PEOPLE - 1)
hoods = st.builds(
    Hood,
    needs=st.lists(
        st.tuples(person, st.sampled_from(CATEGORIES), st.sampled_from(MODES)), min_size=1, max_size=4
    ),
    offers=st.lists(
        st.tuples(
            person,
            st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=2, unique=True),
            st.lists(st.sampled_from(MODES), min_size=1, max_size=2, unique=True),
        ),
        min_size=1,
        max_size=4,
    ),
    blocks=st.lists(st.tuples(person, person).filter(lambda p: p[0] != p[1]), min_size=1, max_size=3),
)


@dataclass
class Seen:
    """Across examples: pairs that a block alone kept apart (so the property was really tested)."""

    parted_but_suited: int = 0
    examples: int = 0
    blocked: set[tuple[str, str]] | None = None


async def _post(client: httpx.AsyncClient, path: str, body: dict[str, Any], who: Member) -> dict[str, Any]:
    r = await client.post(path, json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def _play(client: httpx.AsyncClient, hood: Hood, seen: Seen) -> None:
    # A place of its own per example, so earlier examples' in-person offers are out of reach.
    here = {"lat": -40.0 + next(_places) * 0.5, "lon": 150.0}
    coordinator = await member(client)
    org = (await organization(client, coordinator))["id"]
    people = [await member(client) for _ in range(PEOPLE)]
    for p in people:
        await join(client, coordinator, org, p)
    parted: set[tuple[str, str]] = set()
    for a, b in hood.blocks:
        r = await client.put(f"/v1/members/me/blocks/{people[b].id}", headers=people[a].headers)
        assert r.status_code == 204, r.text
        parted |= {(people[a].id, people[b].id), (people[b].id, people[a].id)}
    assert seen.blocked is not None
    seen.blocked |= parted  # a remote pair may join people of two examples: check them all
    needs = {}  # need id -> (requester, category, mode)
    for who, category, mode in hood.needs:
        body = need_body(category=category, mode=mode, location=here, organization_id=org)
        needs[(await _post(client, "/v1/needs", body, people[who]))["id"]] = (people[who], category, mode)
    offers = {}
    for who, categories, modes in hood.offers:
        body = offer_body(
            categories=categories,
            modes=modes,
            location=here,
            availability=[],
            organization_id=org,
            capacity=2,
        )
        offers[(await _post(client, "/v1/offers", body, people[who]))["id"]] = (
            people[who],
            categories,
            modes,
        )

    def apart(requester: str, volunteer: str) -> bool:
        assert seen.blocked is not None
        return (requester, volunteer) in seen.blocked

    volunteer_of = {o: v.id for o, (v, _, _) in offers.items()}
    for need_id, (requester, _, _) in needs.items():
        r = await client.get(f"/v1/needs/{need_id}/candidates", headers=requester.headers)
        assert r.status_code == 200, r.text
        for c in r.json()["items"]:
            assert not apart(requester.id, volunteer_of.get(c["offer_id"], "")), "a blocked candidate"
    requester_of = {n: r.id for n, (r, _, _) in needs.items()}
    for offer_id, (volunteer, _, _) in offers.items():
        r = await client.get(f"/v1/offers/{offer_id}/opportunities", headers=volunteer.headers)
        assert r.status_code == 200, r.text
        for o in r.json()["items"]:
            assert not apart(requester_of.get(o["id"], ""), volunteer.id), "a blocked opportunity"
    run = await client.post(
        "/v1/matching/runs", json={"organization_id": org, "dry_run": True}, headers=coordinator.headers
    )
    assert run.status_code == 200, run.text
    for a in run.json()["assignments"]:
        assert not apart(requester_of[a["need_id"]], volunteer_of[a["offer_id"]]), "a blocked assignment"
    for need_id, (requester, category, mode) in needs.items():
        for offer_id, (volunteer, categories, modes) in offers.items():
            if not apart(requester.id, volunteer.id):
                continue
            seen.parted_but_suited += category in categories and mode in modes
            pair = {"need_id": need_id, "offer_id": offer_id}
            for asker in (volunteer, requester, coordinator):  # a claim, and two proposals
                r = await client.post("/v1/matches", json=pair, headers=asker.headers)
                assert r.status_code == 404, r.text
    seen.examples += 1


async def test_no_blocked_pair_ever_meets(client: httpx.AsyncClient) -> None:
    seen = Seen(blocked=set())

    @settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(hoods)
    def check(hood: Hood) -> None:
        from_thread.run(_play, client, hood, seen)

    await to_thread.run_sync(check)
    assert seen.examples >= 20
    assert seen.parted_but_suited, "no example had a blocked pair that would otherwise suit each other"
