"""The vectorised batch path agrees with the one-pair filters and score on random data."""

import json
import random
import uuid
from collections import namedtuple
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import numpy as np
import pytest

from app.geo import coarse_point
from app.matching import batch
from app.matching.batch import batch_pairs, words_of
from app.matching.columns import OfferColumns
from app.matching.facts import Context, NeedFacts, OfferFacts, Slot, category_bit, mode_bit
from app.matching.rules import eligible
from app.matching.scoring import score
from app.vocab import Capability, Category, Mode, mask

NOW = datetime(2030, 3, 20, 12, 0, tzinfo=UTC)  # near the European and American clock changes
ZONES = ["UTC", "Europe/London", "America/New_York", "Asia/Kolkata"]


def _random_world(rng: random.Random) -> tuple[list[NeedFacts], list[OfferFacts], Context]:
    people = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(25)]
    orgs = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(2)]
    cats = list(Category)[:4]
    offers = []
    for _ in range(120):
        lat, lon = coarse_point(51.5 + rng.uniform(-0.08, 0.08), -0.12 + rng.uniform(-0.12, 0.12))
        slots = tuple(
            Slot(rng.randrange(7), s, min(1440, s + rng.choice([30, 90, 240, 600])))
            for s in (rng.randrange(0, 1440, 5) for _ in range(rng.choice([0, 0, 1, 2, 4])))
        )
        capacity = rng.randint(1, 3)
        offers.append(
            OfferFacts(
                id=uuid.UUID(int=rng.getrandbits(128)),
                volunteer_id=rng.choice(people),
                organization_id=None,
                categories_mask=mask(rng.sample(cats, rng.randint(1, 2)), Category),
                modes_mask=mask(rng.sample(list(Mode), rng.randint(1, 2)), Mode),
                lat=lat,
                lon=lon,
                max_distance_km=rng.choice([0.5, 1.0, 2.5, 4.0, 9.0]),
                slots=slots,
                timezone=rng.choice(ZONES),
                capacity=capacity,
                active_matches=rng.choice([0, 0, 0, capacity]),
                languages=frozenset(rng.sample(["en", "es", "pl"], rng.randint(0, 2))),
                capabilities_mask=mask(rng.sample(["car", "first_aid"], rng.randint(0, 2)), Capability),
                active=rng.random() > 0.1,
            )
        )
    needs = []
    for _ in range(60):
        lat, lon = coarse_point(51.5 + rng.uniform(-0.08, 0.08), -0.12 + rng.uniform(-0.12, 0.12))
        start = NOW + timedelta(minutes=rng.randrange(0, 14 * 24 * 60, 5))
        window = (
            (start, start + timedelta(minutes=rng.choice([30, 120, 600, 3000, 12000])))
            if rng.random() < 0.6
            else (None, None)
        )
        needs.append(
            NeedFacts(
                id=uuid.UUID(int=rng.getrandbits(128)),
                requester_id=rng.choice([*people, None]),
                organization_id=rng.choice([None, *orgs]),
                category_bit=category_bit(rng.choice(cats)),
                mode_bit=mode_bit(rng.choice(["in_person", "in_person", "remote"])),
                lat=lat,
                lon=lon,
                max_distance_km=rng.choice([None, None, 1.5]),
                languages=frozenset(rng.sample(["en", "es", "pl"], rng.choice([0, 0, 1, 2]))),
                requirements_mask=mask(
                    rng.sample(["car", "first_aid", "background_checked"], rng.choice([0, 0, 1])), Capability
                ),
                window_start=window[0],
                window_end=window[1],
                urgency=rng.choice(["low", "normal", "urgent"]),
                created_at=NOW - timedelta(hours=rng.uniform(0, 100)),
            )
        )
    ctx = Context(
        now=NOW,
        vetted_by={p: frozenset(rng.sample(orgs, rng.randint(0, 2))) for p in people if rng.random() < 0.5},
        history={(rng.choice(people), rng.choice(people)): rng.randint(1, 4) for _ in range(40)},
        active_pairs={(rng.choice(needs).id, rng.choice(offers).id) for _ in range(30)},
    )
    # Blocks among the people, each pair in both orders as app.dispatch.loading reads them.
    parted = [tuple(rng.sample(people, 2)) for _ in range(30)]
    ctx.blocked = {pair for a, b in parted for pair in ((a, b), (b, a))}
    # One organisation takes only volunteers who verified their address; about half did.
    ctx.verifying = frozenset(orgs[:1])
    ctx.verified = {p for p in people if rng.random() < 0.5}
    return needs, offers, ctx


@pytest.mark.parametrize("language_groups", [batch.LANGUAGE_GROUPS, 0], ids=["split", "unsplit"])
def test_batch_pairs_equal_the_one_pair_functions(
    language_groups: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offers split by language (this world's have at most seven masks) and not split."""
    monkeypatch.setattr(batch, "LANGUAGE_GROUPS", language_groups)
    for seed in range(8):
        needs, offers, ctx = _random_world(random.Random(seed))
        expected = {
            (n.id, o.id): score(n, o, ctx).score for n in needs for o in offers if eligible(n, o, ctx)
        }
        found = batch_pairs(needs, offers, ctx)
        got = {
            (needs[i].id, offers[j].id): float(s)
            for i, j, s in zip(found.need, found.offer, found.score, strict=True)
        }
        assert got.keys() == expected.keys(), seed
        assert all(abs(got[k] - expected[k]) <= 2e-6 for k in expected)
        assert len(expected) > 100


def test_top_k_keeps_each_needs_best() -> None:
    needs, offers, ctx = _random_world(random.Random(11))
    every = batch_pairs(needs, offers, ctx)
    best = batch_pairs(needs, offers, ctx, top_k=3)
    for i in range(len(needs)):
        all_scores = sorted(every.score[every.need == i], reverse=True)
        kept = sorted(best.score[best.need == i], reverse=True)
        assert kept == all_scores[:3]


def _row(o: OfferFacts) -> SimpleNamespace:
    """The offer as runs.gather reads it: coarse point as lat/lon, lists as JSON text."""
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    hhmm = lambda m: f"{m // 60:02d}:{m % 60:02d}"  # noqa: E731
    slots = [{"day": days[s.day], "start": hhmm(s.start), "end": hhmm(s.end)} for s in o.slots]
    return SimpleNamespace(
        **{k: getattr(o, k) for k in ("id", "volunteer_id", "lat", "lon", "max_distance_km", "timezone")},
        **{k: getattr(o, k) for k in ("capacity", "active_matches", "categories_mask", "modes_mask")},
        capabilities_mask=o.capabilities_mask,
        availability=json.dumps(slots),
        languages=json.dumps(sorted(o.languages)),
    )


def test_offer_columns_read_from_rows_equal_those_from_facts() -> None:
    needs, offers, _ = _random_world(random.Random(4))
    active = [o for o in offers if o.active]
    words = words_of(needs)
    from_facts = OfferColumns.of(active, words)
    rows = [_row(o) for o in active]
    # As attributes, and as the named tuples a database returns (read a column at a time).
    Row = namedtuple("Row", list(vars(rows[0])))  # type: ignore[misc]
    for read in (rows, [Row(**vars(r)) for r in rows]):
        from_rows = OfferColumns.from_rows(read, words)
        for name, value in vars(from_facts).items():
            other = getattr(from_rows, name)
            assert np.array_equal(value, other) if isinstance(value, np.ndarray) else value == other, name
    assert from_facts.has_slots.sum() > 50
