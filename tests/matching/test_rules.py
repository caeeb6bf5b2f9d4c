"""Every rule of app.matching.rules agrees with itself in each of its forms, on random data.

Python (per pair) against arrays (batch runs) exactly; SQL (the candidate pools' pre-filter)
against Python on rows in the test database: exactly where the rule says so, else as a
superset. Each rule must have all three forms and a case here, or a test below fails.
"""

import dataclasses
import random
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from fastapi import FastAPI
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.types import Point
from app.dispatch import loading, pools
from app.geo import (
    EARTH_RADIUS_KM,
    MAX_ARC_KM,
    ROUNDING_MARGIN_KM,
    haversine_km,
    haversine_km_array,
    located,
    round_half_km_array,
    round_half_km_from_chord,
)
from app.matches.models import Match, MatchStatus
from app.matching import arrays, rules, scoring
from app.matching.arrays import Pairs
from app.matching.batch import unit_vectors, words_of
from app.matching.columns import NeedColumns, OfferColumns
from app.matching.facts import Context, NeedFacts, OfferFacts
from app.matching.filters import distance_km
from app.matching.lookups import Lookups
from app.matching.masks import offer_columns
from app.members.models import Member
from app.needs.models import Need
from app.offers.models import Offer
from app.organizations.models import Membership, Organization
from app.safety.models import MemberBlock
from app.spatial import haversine_sql
from app.vocab import Capability, Category, Mode, mask
from tests.matching.test_batch import _random_world

RULE_NAMES = [rule.name for rule in rules.RULES]
# Two ISO 639-1 codes 63 apart in the sorted list share a mask bit ("aa" and "to").
LANGUAGES = ["aa", "to", "en", "pl"]
ZONES = ["UTC", "Europe/London", "America/New_York"]
NOW = datetime.now(UTC).replace(microsecond=0)


def test_every_rule_and_component_has_every_form_and_a_test() -> None:
    for rule in rules.RULES:
        assert callable(rule.python), rule.name
        # The array form is named, and imported when called (app.matching.rules._array).
        assert callable(getattr(arrays, rule.array.__name__, None)), rule.name
        assert rule.name in pools.SQL_FORMS, f"{rule.name} has no SQL form"
    assert list(pools.SQL_FORMS) == RULE_NAMES, "a SQL form names no rule, or the order differs"
    assert len(set(RULE_NAMES)) == len(RULE_NAMES)
    # The parametrised tests below cover every rule: each must have a case that exercises it.
    assert set(PYTHON_CASES) == set(RULE_NAMES) == set(SQL_CASES)
    names = list(scoring.WEIGHTS)
    assert [c.name for c in rules.COMPONENTS] == names
    needs, offers, ctx = _world(random.Random(0))
    assert list(scoring.components(needs[0], offers[0], ctx, None)) == names
    assert (
        list(arrays.score_parts(_all_pairs(needs, offers, ctx), np.zeros(len(needs) * len(offers)))) == names
    )


def _world(rng: random.Random) -> tuple[list[NeedFacts], list[OfferFacts], Context]:
    """test_batch's random world, with volunteers already joined and in-person needs without a point."""
    needs, offers, ctx = _random_world(rng)
    needs = [
        dataclasses.replace(n, lat=None, lon=None) if n.in_person and rng.random() < 0.05 else n
        for n in needs
    ]
    ctx.active_volunteers = {(rng.choice(needs).id, rng.choice(offers).volunteer_id) for _ in range(30)}
    people = sorted({o.volunteer_id for o in offers} | {n.requester_id for n in needs if n.requester_id})
    ctx.suspended = frozenset(rng.sample(people, max(1, len(people) // 10)))
    return needs, offers, ctx


def _all_pairs(needs: list[NeedFacts], offers: list[OfferFacts], ctx: Context) -> Pairs:
    words = words_of(needs)
    oc = OfferColumns.of(offers, words)
    nc = NeedColumns.of(needs, oc, ctx, words)
    n = np.repeat(np.arange(len(needs)), len(offers))
    o = np.tile(np.arange(len(offers)), len(needs))
    return Pairs(nc, oc, Lookups.of(needs, nc, oc, ctx), n, o)


# Each rule's Python-against-arrays case: the random worlds exercise every rule both ways
# (`blocked`: test_batch's worlds block some pairs of people, each pair in both orders).
PYTHON_CASES = dict.fromkeys(RULE_NAMES, range(4))


def test_blocked_holds_either_way_and_never_for_a_need_of_no_member() -> None:
    needs, offers, ctx = _world(random.Random(5))
    need = next(n for n in needs if n.requester_id is not None)
    offer = next(o for o in offers if o.volunteer_id != need.requester_id)
    assert need.requester_id is not None
    ctx.blocked = set()
    assert rules.first_failure(need, offer, ctx) != "blocked"
    for pair in ((need.requester_id, offer.volunteer_id), (offer.volunteer_id, need.requester_id)):
        ctx.blocked = {pair, pair[::-1]}  # as loaded: both orders, whoever blocked
        assert not rules.RULES[-1].python(need, offer, ctx)
    assert rules.RULES[-1].name == "blocked"
    assert rules.RULES[-1].python(dataclasses.replace(need, requester_id=None), offer, ctx)


@pytest.mark.parametrize("name", RULE_NAMES)
def test_python_and_array_forms_agree(name: str) -> None:
    rule = next(r for r in rules.RULES if r.name == name)
    held = failed = 0
    for seed in PYTHON_CASES[name]:
        needs, offers, ctx = _world(random.Random(seed))
        expected = np.array([rule.python(n, o, ctx) for n in needs for o in offers])
        got = rule.array(_all_pairs(needs, offers, ctx))
        assert got.dtype == np.bool_
        assert (got == expected).all(), f"{name}: {int((got != expected).sum())} pairs differ"
        held, failed = held + int(expected.sum()), failed + int((~expected).sum())
    assert held, f"the random worlds never let {name} hold"
    assert failed, f"the random worlds never fail {name}"


@pytest.mark.parametrize("component", rules.COMPONENTS, ids=lambda c: c.name)
def test_score_components_agree(component: rules.Component) -> None:
    for seed in range(3):
        needs, offers, ctx = _world(random.Random(seed))
        pairs = _all_pairs(needs, offers, ctx)
        helped = pairs.lookups.helped(pairs.n, pairs.volunteer)
        got = component.array(pairs, helped)
        expected = [
            component.python(n, o, ctx, distance_km(n, o)) if n.lat is not None or not n.in_person else None
            for n in needs
            for o in offers
        ]
        placed = np.array([e is not None for e in expected])
        values = np.array([e for e in expected if e is not None])
        assert np.allclose(got[placed], values, rtol=0, atol=1e-12), component.name


def test_haversine_forms_agree() -> None:
    rng = np.random.default_rng(7)
    lat1, lat2 = rng.uniform(-89, 89, 500), rng.uniform(-89, 89, 500)
    lon1, lon2 = rng.uniform(-180, 180, 500), rng.uniform(-180, 180, 500)
    python = [rules.HAVERSINE.python(*p) for p in zip(lat1, lon1, lat2, lon2, strict=True)]
    # numpy's vectorised sin and cos may round the last bit differently from libm's.
    assert np.allclose(rules.HAVERSINE.array(lat1, lon1, lat2, lon2), python, rtol=1e-13, atol=0)
    assert rules.HAVERSINE.python is haversine_km
    assert rules.HAVERSINE.sql == f"{haversine_sql.__module__}.{haversine_sql.__name__}"


async def test_haversine_sql_agrees(application: FastAPI) -> None:
    """On both databases (SQLite runs the Python function itself)."""
    rng = random.Random(3)
    points = [
        (rng.uniform(50, 53), rng.uniform(-2, 1), rng.uniform(50, 53), rng.uniform(-2, 1)) for _ in range(50)
    ]
    async with application.state.sessionmaker() as session:
        dialect = session.bind.dialect.name
        for a_lat, a_lon, b_lat, b_lon in points:
            got = (await session.exec(select(haversine_sql(a_lat, a_lon, b_lat, b_lon, dialect)))).one()
            # The database's libm may differ from Python's in the last bit; the pools add a margin.
            assert abs(got - haversine_km(a_lat, a_lon, b_lat, b_lon)) < 1e-9


# ---- SQL forms, on rows in the test database ----

SQL_CASES = dict.fromkeys(RULE_NAMES, range(2))


def _slots(rng: random.Random) -> list[dict[str, str]]:
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    out = []
    for _ in range(rng.choice([0, 1, 2])):
        start = rng.randrange(0, 20) * 60
        out.append(
            {"day": rng.choice(days), "start": f"{start // 60:02d}:00", "end": f"{start // 60 + 3:02d}:00"}
        )
    return out


async def _seed(session: AsyncSession, rng: random.Random) -> tuple[list[Need], list[Offer]]:
    people = [
        Member(
            email=f"p{i}-{uuid.uuid4().hex[:8]}@example.org", password_hash="x", display_name=f"Person {i}"
        )
        for i in range(12)
    ]
    # Suspended: for good, until tomorrow, and one whose suspension lapsed an hour ago.
    for person, until in zip(
        people[-3:], [None, NOW + timedelta(days=1), NOW - timedelta(hours=1)], strict=True
    ):
        person.suspended_at, person.suspended_until = NOW - timedelta(days=2), until
    # Half the people verified their address; the second organisation takes only such volunteers.
    for person in people[::2]:
        person.email_verified_at = NOW - timedelta(days=1)
    org = Organization(name=f"Group {uuid.uuid4().hex[:8]}")
    strict = Organization(name=f"Strict {uuid.uuid4().hex[:8]}", require_verified_email=True)
    session.add_all([*people, org, strict])
    await session.flush()
    session.add_all(
        Membership(organization_id=org.id, member_id=p.id, role="member", vetted=rng.random() < 0.5)
        for p in people[:8]
    )
    cats = list(Category)[:2]
    blocks: list[MemberBlock] = []
    offers = []
    for _ in range(30):
        categories = [str(c) for c in rng.sample(cats, rng.randint(1, 2))]
        modes = [str(m) for m in rng.sample(list(Mode), rng.randint(1, 2))]
        capabilities = rng.sample(["car", "first_aid"], rng.randint(0, 2))
        languages = rng.sample(LANGUAGES, rng.randint(0, 2))
        availability, timezone = _slots(rng), rng.choice(ZONES)
        capacity = rng.randint(1, 2)
        offer = Offer(
            volunteer_id=rng.choice(people).id,
            organization_id=org.id,
            categories=categories,
            modes=modes,
            capabilities=capabilities,
            categories_mask=mask(categories, Category),
            modes_mask=mask(modes, Mode),
            capabilities_mask=mask(capabilities, Capability),
            **located(51.5 + rng.uniform(-0.05, 0.05), -0.12 + rng.uniform(-0.08, 0.08)),
            max_distance_km=rng.choice([1.0, 3.0, 8.0]),
            availability=availability,
            timezone=timezone,
            capacity=capacity,
            active_matches=rng.choice([0, 0, capacity]),
            languages=languages,
            status=rng.choice(["active", "active", "active", "paused"]),
        )
        for column, value in offer_columns(languages, availability, timezone).items():
            setattr(offer, column, value)
        offers.append(offer)
    needs = []
    for _ in range(8):
        start = NOW + timedelta(hours=rng.randrange(1, 24 * 7))
        timed = rng.random() < 0.7
        requirements = rng.sample(["car", "first_aid", "background_checked"], rng.choice([0, 1, 1, 2]))
        point = Point(lat=51.5 + rng.uniform(-0.03, 0.03), lon=-0.12 + rng.uniform(-0.05, 0.05))
        needs.append(
            Need(
                requester_id=rng.choice(people).id,
                organization_id=rng.choice([org, strict]).id,
                category=rng.choice(cats),
                mode=rng.choice(["in_person", "in_person", "remote"]),
                title="Help",
                description="Synthetic",
                **located(point.lat, point.lon),
                max_distance_km=rng.choice([None, 2.0]),
                languages=rng.sample(LANGUAGES, rng.choice([0, 1, 1, 2])),
                requirements=requirements,
                requirements_mask=mask(requirements, Capability),
                window_start=start if timed else None,
                window_end=start + timedelta(hours=rng.choice([1, 3, 30])) if timed else None,
                urgency="normal",
            )
        )
    session.add_all([*offers, *needs])
    await session.flush()
    for _ in range(12):
        need, offer = rng.choice(needs), rng.choice(offers)
        if not await _joined(session, need, offer):
            session.add(
                Match(
                    need_id=need.id,
                    offer_id=offer.id,
                    volunteer_id=offer.volunteer_id,
                    requester_id=need.requester_id,
                    organization_id=need.organization_id,
                    status=rng.choice([MatchStatus.proposed, MatchStatus.accepted, MatchStatus.completed]),
                )
            )
            await session.flush()
    # Blocks either way between some requesters and volunteers (the `blocked` rule's case).
    for _ in range(6):
        blocker, blocked = rng.sample(people, 2)
        if (blocker.id, blocked.id) not in {(b.blocker_id, b.blocked_id) for b in blocks}:
            blocks.append(MemberBlock(blocker_id=blocker.id, blocked_id=blocked.id))
    session.add_all(blocks)
    await session.flush()
    return needs, offers


async def _joined(session: AsyncSession, need: Need, offer: Offer) -> bool:
    rows = await session.exec(
        select(col(Match.id)).where(
            col(Match.need_id) == need.id,
            (col(Match.offer_id) == offer.id) | (col(Match.volunteer_id) == offer.volunteer_id),
            col(Match.status).in_(["proposed", "accepted"]),
        )
    )
    return rows.first() is not None


async def _passing_sql(session: AsyncSession, name: str, need: Need, facts: NeedFacts) -> set[uuid.UUID]:
    assert session.bind is not None
    shape = pools.shape_of(need, facts, session.bind.dialect.name)
    condition = pools.SQL_FORMS[name].where(shape, pools.offer_column)
    stmt = select(col(Offer.id))
    if condition is not None:
        stmt = stmt.where(condition)
    connection = await session.connection()
    params = pools.parameters(need, facts, shape, 1)
    return set((await connection.execute(stmt, params)).scalars().all())


def _passing_python(
    rule: rules.Rule, facts: NeedFacts, offers: Iterable[OfferFacts], ctx: Context
) -> set[uuid.UUID]:
    return {o.id for o in offers if rule.python(facts, o, ctx)}


@pytest.mark.parametrize("name", RULE_NAMES)
async def test_sql_and_python_forms_agree(application: FastAPI, name: str) -> None:
    rule = next(r for r in rules.RULES if r.name == name)
    held = failed = 0
    for seed in SQL_CASES[name]:
        async with application.state.sessionmaker() as session:
            needs, offers = await _seed(session, random.Random(seed))
            offer_facts = [loading.offer_facts(o) for o in offers]
            for need in needs:
                facts = loading.need_facts(need)
                ctx = await loading.context(
                    session,
                    now=NOW,
                    volunteer_ids=[o.volunteer_id for o in offers],
                    requester_ids=[need.requester_id],
                    need_ids=[need.id],
                )
                python = _passing_python(rule, facts, offer_facts, ctx)
                sql = await _passing_sql(session, name, need, facts)
                if rule.sql_exact:
                    assert sql == python, f"{name}: SQL and Python disagree on {len(sql ^ python)} offers"
                else:
                    assert python <= sql, f"{name}: SQL drops {len(python - sql)} offers Python keeps"
                held, failed = held + len(python), failed + len(offers) - len(python)
            await session.rollback()
    assert held, f"the seeded rows never let {name} hold"
    assert failed, f"the seeded rows never fail {name}"


def _destinations(rng: np.random.Generator, km: np.ndarray) -> tuple[np.ndarray, ...]:
    """Random points, and for each the point `km` away on a random bearing (on the same sphere)."""
    lat1, lon1 = rng.uniform(-85, 85, km.size), rng.uniform(-180, 180, km.size)
    p1, l1, bearing = np.radians(lat1), np.radians(lon1), rng.uniform(0, 2 * np.pi, km.size)
    delta = km / EARTH_RADIUS_KM
    p2 = np.arcsin(np.sin(p1) * np.cos(delta) + np.cos(p1) * np.sin(delta) * np.cos(bearing))
    l2 = l1 + np.arctan2(
        np.sin(bearing) * np.sin(delta) * np.cos(p1), np.cos(delta) - np.sin(p1) * np.sin(p2)
    )
    return lat1, lon1, np.degrees(p2), (np.degrees(l2) + 540) % 360 - 180


def _tree_chords(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Each pair's chord as the batch's k-d tree join measures it."""
    from scipy.spatial import cKDTree

    chords = np.empty(lat1.size)
    for i in range(lat1.size):  # one pair per join, so each chord is its own pair's
        a, b = (
            cKDTree(unit_vectors(lat1[i : i + 1], lon1[i : i + 1])),
            cKDTree(unit_vectors(lat2[i : i + 1], lon2[i : i + 1])),
        )
        hits = a.sparse_distance_matrix(b, 2.0, output_type="ndarray")
        assert hits.size == 1  # every pair is within the diameter, a distance of 0 included
        chords[i] = hits["v"][0]
    return chords


def test_arcs_from_tree_chords_round_as_the_haversine() -> None:
    """The batch reads each in-person pair's distance, rounded to 0.5 km, from the chord its k-d
    tree join measured, and the haversine only at a rounding boundary: the values must be those
    of rounding the haversine, pair for pair, boundaries included."""
    rng = np.random.default_rng(11)
    near = np.arange(0.25, 40.0, 0.5)  # rounding boundaries, hit to within the last bits
    km = np.concatenate([rng.uniform(0, MAX_ARC_KM, 3000), rng.uniform(0, 0.01, 200), near, near + 1e-11])
    lat1, lon1, lat2, lon2 = _destinations(rng, km)
    haversine = haversine_km_array(lat1, lon1, lat2, lon2)
    chords = _tree_chords(lat1, lon1, lat2, lon2)
    arcs = 2 * EARTH_RADIUS_KM * np.arcsin(chords / 2)
    # How far the two measures are apart: four orders below the margin the rounding relies on.
    assert np.abs(arcs - haversine).max() < ROUNDING_MARGIN_KM / 1e4
    asked: list[np.ndarray] = []

    def exact(at: np.ndarray) -> np.ndarray:
        asked.append(at)
        out: np.ndarray = haversine[at]
        return out

    got = round_half_km_from_chord(chords, exact)
    assert np.array_equal(got, round_half_km_array(haversine))
    # The boundary pairs were settled by the haversine, and few others were.
    settled = np.concatenate(asked)
    assert set(range(km.size - 2 * near.size, km.size)) <= set(settled.tolist())
    assert settled.size < 2 * near.size + 10
    remote = round_half_km_from_chord(np.array([np.nan]), exact)  # remote help has no chord
    assert np.isnan(remote).all()
