"""What the inbox tests share: a need and an offer side by side, and a member's inbox."""

import httpx

from tests.factories import Member, need_body, offer_body

HERE = {"lat": 51.5, "lon": -0.12}
MATCH_KEYS = {"match_id", "need_id", "offer_id", "status"}


async def pair(client: httpx.AsyncClient, requester: Member, volunteer: Member) -> tuple[str, str]:
    """A need of the requester's and an offer of the volunteer's at the same place: their ids."""
    need = await client.post("/v1/needs", json=need_body(location=HERE), headers=requester.headers)
    offer = await client.post(
        "/v1/offers", json=offer_body(location=HERE, availability=[]), headers=volunteer.headers
    )
    assert need.status_code == offer.status_code == 201, (need.text, offer.text)
    return need.json()["id"], offer.json()["id"]


async def inbox(client: httpx.AsyncClient, who: Member, query: str = "") -> list[dict]:
    r = await client.get(f"/v1/notifications{query}", headers=who.headers)
    assert r.status_code == 200, r.text
    items: list[dict] = r.json()["items"]
    return items


async def types(client: httpx.AsyncClient, who: Member) -> list[str]:
    return [n["type"] for n in await inbox(client, who)]
