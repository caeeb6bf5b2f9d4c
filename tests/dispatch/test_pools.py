"""What SQL narrows in a candidate search and what Python settles, on both databases."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from psycopg import _queries as psycopg_queries
from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect

from app.core.db import CACHED_STATEMENT_BYTES, make_engine
from app.dispatch import alerts, candidates, pools
from app.offers.models import Offer
from app.vocab import Mode
from tests.conftest import make_settings
from tests.factories import Member, first_saturday, member, need_body, offer_body

HERE = {"lat": 51.5, "lon": -0.12}
# Two codes that share a mask bit (bit 0 in app.bit_numbers.LANGUAGE): SQL cannot tell them apart.
LANGUAGE, ALIKE = "aa", "ia"


@pytest.fixture
def statements() -> Iterator[None]:
    """Statements are cached with the walk's length in them: rebuild them around a test."""
    pools.statement.cache_clear()
    yield
    pools.statement.cache_clear()


async def _offers_eastwards(client: httpx.AsyncClient, languages: list[list[str]]) -> list[str]:
    """One offer per language list, each ~1.4 km further east of HERE than the last."""
    ids = []
    for i, spoken in enumerate(languages):
        v = await member(client)
        body = offer_body(
            location={"lat": HERE["lat"], "lon": HERE["lon"] + 0.02 * (i + 1)},
            max_distance_km=20,
            availability=[],
            languages=spoken,
        )
        r = await client.post("/v1/offers", json=body, headers=v.headers)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


async def _candidates(
    client: httpx.AsyncClient, requester: Member, languages: list[str], limit: int
) -> list[str]:
    need = await client.post(
        "/v1/needs", json=need_body(location=HERE, languages=languages), headers=requester.headers
    )
    assert need.status_code == 201, need.text
    r = await client.get(f"/v1/needs/{need.json()['id']}/candidates?limit={limit}", headers=requester.headers)
    assert r.status_code == 200, r.text
    return [c["offer_id"] for c in r.json()["items"]]


async def test_a_shared_language_bit_is_settled_and_the_search_looks_further(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(candidates, "POOL", 1)
    *alike, speaker = await _offers_eastwards(client, [[ALIKE], [ALIKE], [ALIKE], [LANGUAGE]])
    requester = await member(client)
    # The first pools hold only offers whose mask matches but whose language does not.
    assert await _candidates(client, requester, [LANGUAGE], limit=1) == [speaker]
    assert await _candidates(client, requester, [LANGUAGE], limit=10) == [speaker]
    assert set(await _candidates(client, requester, [ALIKE], limit=10)) == set(alike)


async def test_offers_whose_masks_are_unknown_are_found_and_settled(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    ids = await _offers_eastwards(client, [["es"], ["pl"], ["es", "pl"], []])
    requester = await member(client)
    before = await _candidates(client, requester, ["es"], limit=10)
    async with application.state.sessionmaker() as session:  # as for rows written before the masks
        unknown = dict.fromkeys(("languages_mask", "availability_mask_0", "availability_mask_1"), -1)
        await session.exec(update(Offer).values(availability_mask_2=-1, **unknown))
        await session.commit()
    assert before == [ids[0], ids[2]]
    assert await _candidates(client, requester, ["es"], limit=10) == before


@pytest.mark.usefixtures("statements")
async def test_the_search_looks_at_the_nearest_walk_offers_of_the_kind_only(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    *_, speaker = await _offers_eastwards(client, [["pl"], ["pl"], ["es"]])
    requester = await member(client)
    assert await _candidates(client, requester, ["es"], limit=10) == [speaker]
    monkeypatch.setattr(pools, "WALK", 2)
    pools.statement.cache_clear()
    assert await _candidates(client, requester, ["es"], limit=10) == []


@pytest.mark.usefixtures("statements")
async def test_the_walk_passes_offers_that_fail_the_need_until_it_has_the_limit(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rare language: the nearest offers all fail it, and the walk goes on past them within
    WALK offers, in one statement, until it has `limit` speakers."""
    monkeypatch.setattr(candidates, "POOL", 2)
    monkeypatch.setattr(candidates, "MAX_POOL", 2)
    *_, first, second = await _offers_eastwards(client, [["pl"]] * 5 + [["es"], ["es"]])
    requester = await member(client)
    monkeypatch.setattr(pools, "WALK", 7)
    assert await _candidates(client, requester, ["es"], limit=2) == [first, second]
    monkeypatch.setattr(pools, "WALK", 6)  # the bound: the walk stops after six offers
    pools.statement.cache_clear()
    assert await _candidates(client, requester, ["es"], limit=2) == [first]


@pytest.mark.usefixtures("statements")
async def test_the_search_looks_further_while_a_further_offer_could_score_more(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The nearest offer promises no hours (availability 0.5), the next is free all the window
    (1.0) a step further: 0.15 * 0.5 of availability outweighs 1.4 km of proximity."""
    volunteers = [await member(client) for _ in range(2)]
    ids = []
    for i, (v, hours) in enumerate(
        zip(volunteers, [[], [{"day": "sat", "start": "08:00", "end": "14:00"}]], strict=True)
    ):
        body = offer_body(
            location={"lat": HERE["lat"], "lon": HERE["lon"] + 0.02 * (i + 1)},
            max_distance_km=20,
            availability=hours,
        )
        r = await client.post("/v1/offers", json=body, headers=v.headers)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    nearest, free = ids
    requester = await member(client)
    start = first_saturday()
    need = await client.post(
        "/v1/needs",
        json=need_body(
            location=HERE,
            window_start=start.isoformat(),
            window_end=(start + timedelta(hours=1)).isoformat(),
        ),
        headers=requester.headers,
    )
    assert need.status_code == 201, need.text
    url = f"/v1/needs/{need.json()['id']}/candidates?limit=1"
    monkeypatch.setattr(candidates, "POOL", 1)
    monkeypatch.setattr(candidates, "MAX_POOL", 1)  # no further than the first offer
    r = await client.get(url, headers=requester.headers)
    assert [c["offer_id"] for c in r.json()["items"]] == [nearest]
    monkeypatch.setattr(candidates, "MAX_POOL", 4)
    r = await client.get(url, headers=requester.headers)
    assert [c["offer_id"] for c in r.json()["items"]] == [free]


@pytest.mark.parametrize("dialect", [postgresql.dialect(), sqlite.dialect()], ids=["postgresql", "sqlite"])
@pytest.mark.parametrize("mode", [Mode.in_person, Mode.remote])
@pytest.mark.parametrize("vetting", [False, True])
def test_the_pool_keeps_the_walks_order(dialect: Any, mode: Mode, vetting: bool) -> None:
    """The stopping rule needs the pool to be the first offers of the walk that pass: the pool
    orders by the walk's own order columns, so no join chosen for a personal rule reorders it."""
    shape = pools.Shape(category_bit=0, mode=mode, dialect=dialect.name, resolution=8, vetting=vetting)
    sql = " ".join(str(pools.statement(shape).compile(dialect=dialect)).split())
    walk_order = f"nearest.{pools.WALK_ORDER}0"
    assert f"AS {pools.WALK_ORDER}0" in sql  # the walk names its order...
    assert f"ORDER BY {walk_order}" in sql  # ...and the pool orders by it


def _longest_postgres_statement() -> tuple[int, int]:
    """Bytes and parameters of the longest pool statement, and of the alert fan-out's that wraps
    it, as psycopg receives them."""
    dialect = psycopg_dialect()
    sizes = []
    for mode in Mode:
        for vetting in (False, True):
            shape = pools.Shape(
                category_bit=1 << 12, mode=mode, dialect="postgresql", resolution=0, vetting=vetting
            )
            for statement in (pools.statement(shape), alerts._statement(shape)):
                compiled = statement.compile(dialect=dialect)
                sizes.append((len(str(compiled).encode()), len(compiled.params)))
    return max(length for length, _ in sizes), max(count for _, count in sizes)


def test_psycopg_keeps_the_conversion_of_every_pool_statement() -> None:
    """psycopg caches a statement's placeholder conversion only up to its bound; the pool's
    statements are longer than the bound it ships with, and below the one the engine sets."""
    assert isinstance(psycopg_queries.MAX_CACHED_STATEMENT_LENGTH, int)  # still psycopg's knob
    longest, parameters = _longest_postgres_statement()
    assert longest > 4096  # why the bound is raised at all
    make_engine(make_settings("postgresql+psycopg://nobody@127.0.0.1:1/none"))  # connects to nothing
    assert psycopg_queries.MAX_CACHED_STATEMENT_LENGTH >= CACHED_STATEMENT_BYTES > longest
    assert parameters <= psycopg_queries.MAX_CACHED_STATEMENT_PARAMS  # its other bound, left as it is


@pytest.mark.postgres
async def test_a_repeated_search_converts_no_statement_again(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second search of a need sends statements psycopg has converted before: none goes
    through its uncached conversion (which it uses for statements past its bound)."""
    requester = await member(client)
    volunteer = await member(client)
    body = offer_body(location=HERE, availability=[], max_distance_km=20)
    assert (await client.post("/v1/offers", json=body, headers=volunteer.headers)).status_code == 201
    need = (await client.post("/v1/needs", json=need_body(location=HERE), headers=requester.headers)).json()
    url = f"/v1/needs/{need['id']}/candidates"
    assert len((await client.get(url, headers=requester.headers)).json()["items"]) == 1
    uncached: list[int] = []
    original = psycopg_queries._query2pg_nocache

    def counting(query: bytes, encoding: str) -> Any:
        uncached.append(len(query))
        return original(query, encoding)

    monkeypatch.setattr(psycopg_queries, "_query2pg_nocache", counting)
    assert len((await client.get(url, headers=requester.headers)).json()["items"]) == 1
    assert uncached == []
