"""The batch benchmark's synthetic organisation: as matching facts in memory, or as rows in Postgres.

Both come from the same draws, so a run over the database matches the same needs and offers as
one in memory; only the slots differ (the database keeps each need's `volunteers_needed`).
"""

import json
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg

from app.geo import coarse_point, located
from app.matching.facts import Context, NeedFacts, OfferFacts, category_bit, mode_bit, slots_from
from app.matching.masks import offer_columns
from app.vocab import Capability, Category, Mode, mask
from bench import city


@dataclass(frozen=True)
class World:
    organization: uuid.UUID
    volunteers: list[uuid.UUID]
    needs: list[tuple[uuid.UUID, uuid.UUID, dict[str, Any]]]  # (id, requester, fields)
    offers: list[tuple[uuid.UUID, uuid.UUID, dict[str, Any]]]  # (id, volunteer, fields)


def world(n_needs: int, n_offers: int, seed: int) -> World:
    rng = random.Random(seed)
    hoods = city.neighbourhoods(rng)
    volunteers = city.ids(max(1, n_offers // 3), rng)
    offers = []
    for oid in city.ids(n_offers, rng):
        f = city.offer_fields(rng, hoods)
        offers.append((oid, rng.choice(volunteers), f))
    needs = []
    for nid in city.ids(n_needs, rng):
        f = city.need_fields(rng, hoods, city.NOW)
        needs.append((nid, uuid.UUID(int=rng.getrandbits(128)), f))
    return World(uuid.UUID(int=seed, version=4), volunteers, needs, offers)


def facts(w: World) -> tuple[list[NeedFacts], list[OfferFacts], Context]:
    offers = []
    for oid, volunteer, f in w.offers:
        lat, lon = coarse_point(f["lat"], f["lon"])
        offers.append(
            OfferFacts(
                id=oid,
                volunteer_id=volunteer,
                organization_id=None,
                categories_mask=mask(f["categories"], Category),
                modes_mask=mask(f["modes"], Mode),
                lat=lat,
                lon=lon,
                max_distance_km=f["max_distance_km"],
                slots=slots_from(f["availability"]),
                timezone=f["timezone"],
                capacity=f["capacity"],
                active_matches=0,
                languages=frozenset(f["languages"]),
                capabilities_mask=mask(f["capabilities"], Capability),
                active=True,
            )
        )
    needs = []
    for nid, requester, f in w.needs:
        lat, lon = coarse_point(f["lat"], f["lon"])
        start, end = f["window"] or (None, None)
        needs.append(
            NeedFacts(
                id=nid,
                requester_id=requester,
                organization_id=None,
                category_bit=category_bit(f["category"]),
                mode_bit=mode_bit(f["mode"]),
                lat=lat,
                lon=lon,
                max_distance_km=None,
                languages=frozenset(f["languages"]),
                requirements_mask=mask(f["requirements"], Capability),
                window_start=start,
                window_end=end,
                urgency=f["urgency"],
                created_at=f["created_at"],
            )
        )
    return needs, offers, Context(now=city.NOW)


_NEED_COLUMNS = (
    "id, requester_id, organization_id, category, title, urgency, mode, lat, lon, approx_lat, approx_lon, "
    "h3_r4, h3_r6, h3_r8, volunteers_needed, volunteers_accepted, volunteers_completed, window_start, "
    "window_end, languages, requirements, requirements_mask, visibility, status, version, created_at, "
    "updated_at"
)
_OFFER_COLUMNS = (
    "id, volunteer_id, organization_id, categories, modes, categories_mask, modes_mask, capabilities_mask, "
    "lat, lon, approx_lat, approx_lon, h3_r4, h3_r6, h3_r8, max_distance_km, availability, timezone, "
    "capacity, active_matches, languages, capabilities, status, version, created_at, updated_at, "
    "languages_mask, availability_mask_0, availability_mask_1, availability_mask_2"
)


def _place(f: dict[str, Any]) -> tuple[Any, ...]:
    p = located(f["lat"], f["lon"])
    return p["lat"], p["lon"], p["approx_lat"], p["approx_lon"], p["h3_r4"], p["h3_r6"], p["h3_r8"]


def _need_row(nid: uuid.UUID, requester: uuid.UUID, org: uuid.UUID, f: dict[str, Any]) -> tuple[Any, ...]:
    start, end = f["window"] or (None, None)
    head = (nid, requester, org, f["category"], "Bench", f["urgency"], f["mode"])
    lists = (json.dumps(f["languages"]), json.dumps(f["requirements"]))
    tail = (f["volunteers_needed"], 0, 0, start, end, *lists)
    stamps = (f["created_at"], f["created_at"])
    return (*head, *_place(f), *tail, mask(f["requirements"], Capability), "public", "open", 1, *stamps)


def _offer_row(oid: uuid.UUID, volunteer: uuid.UUID, org: uuid.UUID, f: dict[str, Any]) -> tuple[Any, ...]:
    masks = offer_columns(f["languages"], f["availability"], f["timezone"])
    lists = (json.dumps(f["categories"]), json.dumps(f["modes"]))
    bits = (mask(f["categories"], Category), mask(f["modes"], Mode), mask(f["capabilities"], Capability))
    reach = (f["max_distance_km"], json.dumps(f["availability"]), f["timezone"], f["capacity"], 0)
    spoken = (json.dumps(f["languages"]), json.dumps(f["capabilities"]), "active", 1, city.NOW, city.NOW)
    return (oid, volunteer, org, *lists, *bits, *_place(f), *reach, *spoken, *masks.values())


def load(libpq_url: str, w: World) -> None:
    """The organisation, its people, needs and offers, unless the database holds them already."""
    with psycopg.connect(libpq_url) as conn:
        if conn.execute("SELECT 1 FROM organizations WHERE id = %s", (w.organization,)).fetchone():
            print("database already holds the benchmark organisation")
            return
        started = time.perf_counter()
        conn.execute(
            "INSERT INTO organizations (id, name, created_at, updated_at) VALUES (%s, 'Bench', %s, %s)",
            (w.organization, city.NOW, city.NOW),
        )
        people = [*w.volunteers, *(requester for _, requester, _ in w.needs)]
        columns = "id, email, password_hash, display_name, languages, created_at, updated_at"
        with conn.cursor().copy(f"COPY members ({columns}) FROM STDIN") as copy:
            for i, person in enumerate(people):
                name = (f"person{i}@example.org", "not-a-hash", f"Person {i}")
                copy.write_row((person, *name, "[]", city.NOW, city.NOW))
        with conn.cursor().copy(f"COPY needs ({_NEED_COLUMNS}) FROM STDIN") as copy:
            for nid, requester, f in w.needs:
                copy.write_row(_need_row(nid, requester, w.organization, f))
        with conn.cursor().copy(f"COPY offers ({_OFFER_COLUMNS}) FROM STDIN") as copy:
            for oid, volunteer, f in w.offers:
                copy.write_row(_offer_row(oid, volunteer, w.organization, f))
        conn.commit()
    with psycopg.connect(libpq_url, autocommit=True) as conn:
        for table in ("members", "needs", "offers"):
            conn.execute(f"VACUUM ANALYZE {table}")
    print(f"loaded {len(w.needs)} needs and {len(w.offers)} offers in {time.perf_counter() - started:.0f} s")
