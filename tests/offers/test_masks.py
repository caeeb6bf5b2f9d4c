"""An offer's SQL masks follow its languages, slots and timezone through create and every update."""

import uuid

import httpx
from fastapi import FastAPI

from app.matching.masks import FLEXIBLE, offer_columns
from app.offers.models import Offer
from tests.factories import member, offer_body

MONDAY_TEN = [{"day": "mon", "start": "10:00", "end": "11:00"}]


async def _masks(application: FastAPI, offer_id: str) -> tuple[int, int, int, int]:
    async with application.state.sessionmaker() as session:
        offer = await session.get(Offer, uuid.UUID(offer_id))
        assert offer is not None
        return (
            offer.languages_mask,
            offer.availability_mask_0,
            offer.availability_mask_1,
            offer.availability_mask_2,
        )


def _expected(languages: list[str], slots: list[dict[str, str]], zone: str) -> tuple[int, int, int, int]:
    c = offer_columns(languages, slots, zone)
    return c["languages_mask"], c["availability_mask_0"], c["availability_mask_1"], c["availability_mask_2"]


async def test_masks_are_written_on_create_and_follow_each_update(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    v = await member(client)
    body = offer_body(languages=["es"], availability=MONDAY_TEN, timezone="Europe/London")
    offer = (await client.post("/v1/offers", json=body, headers=v.headers)).json()
    assert await _masks(application, offer["id"]) == _expected(["es"], MONDAY_TEN, "Europe/London")
    assert (await _masks(application, offer["id"]))[1:] == (1 << 10 | 1 << 9, 0, 0)

    steps: list[tuple[dict, tuple[list[str], list[dict[str, str]], str]]] = [
        ({"timezone": "Asia/Kolkata"}, (["es"], MONDAY_TEN, "Asia/Kolkata")),  # slots move with the zone
        ({"languages": ["pl", "en"]}, (["pl", "en"], MONDAY_TEN, "Asia/Kolkata")),
        ({"availability": []}, (["pl", "en"], [], "Asia/Kolkata")),
        ({"note": "Evenings are best"}, (["pl", "en"], [], "Asia/Kolkata")),  # nothing to recompute
    ]
    for change, expected in steps:
        r = await client.patch(f"/v1/offers/{offer['id']}", json=change, headers=v.headers)
        assert r.status_code == 200, r.text
        assert await _masks(application, offer["id"]) == _expected(*expected), change
    assert (await _masks(application, offer["id"]))[1:] == FLEXIBLE
