"""A member who has used every feature, with details no one else's data contains."""

from dataclasses import dataclass
from typing import Any

import httpx

from tests.factories import Member, activity, claim, join, member, need_body, offer_body, organization

EMAIL = "quentin.zephyrine@example.org"
NAME = "Quentin Zephyrine"
PHONE = "+44 7700 900777"
ADDRESS = "Flat 9, Marigold Terrace"
NEED_POINT = {"lat": 51.487654, "lon": -0.143219}
OFFER_POINT = {"lat": 51.491357, "lon": -0.128642}
NEARBY = {"lat": 51.4901, "lon": -0.1302}  # where the others are
TITLE = "Zephyrine weekly shop"
DESCRIPTION = "Zephyrine needs oat milk"
CONTACT = "Zephyrine Contact"
NOTE = "Zephyrine can drive"
ACTIVITY_ADDRESS = "Zephyrine Hall, 3 Quince Lane"
REPORT_DETAIL = "Zephyrine saw this spam twice"
MESSAGE = "Zephyrine will leave the door on the latch"
# Everything that must be gone from every table once the member is erased.
SECRETS = (
    EMAIL,
    NAME,
    PHONE,
    ADDRESS,
    TITLE,
    DESCRIPTION,
    CONTACT,
    NOTE,
    ACTIVITY_ADDRESS,
    REPORT_DETAIL,
    MESSAGE,
    str(NEED_POINT["lat"]),
    str(NEED_POINT["lon"]),
    str(OFFER_POINT["lat"]),
    str(OFFER_POINT["lon"]),
)


@dataclass
class World:
    person: Member
    volunteer: Member  # helping the person's need (accepted)
    requester: Member  # whose need the person helps (accepted)
    coordinator: Member
    org: str
    need_id: str
    org_need_id: str
    waiting: Member  # waitlisted behind the person on a full activity
    org_activity: str


async def everything(client: httpx.AsyncClient) -> World:
    person = await member(client, email=EMAIL, display_name=NAME, phone=PHONE)
    volunteer, requester, coordinator, waiting = [await member(client) for _ in range(4)]
    org = (await organization(client, coordinator))["id"]
    await join(client, coordinator, org, person)
    body = need_body(title=TITLE, description=DESCRIPTION, location=NEED_POINT, address=ADDRESS)
    body["contact"] = {"name": CONTACT, "phone": PHONE}
    need = await _post(client, "/v1/needs", body, person)
    org_need = await _post(client, "/v1/needs", {**body, "organization_id": org}, person)
    theirs = await _post(client, "/v1/offers", offer_body(location=NEARBY, availability=[]), volunteer)
    await claim(client, volunteer, need["id"], theirs["id"], accept_as=person)
    mine = await _post(
        client, "/v1/offers", offer_body(location=OFFER_POINT, availability=[], note=NOTE), person
    )
    other_need = await _post(client, "/v1/needs", need_body(location=NEARBY), requester)
    match = await claim(client, person, other_need["id"], mine["id"], accept_as=requester)
    await _post(client, f"/v1/matches/{match['id']}/messages", {"body": MESSAGE}, person)
    # The volunteer reads the person's need: an audit row about the person.
    assert (await client.get(f"/v1/needs/{need['id']}", headers=volunteer.headers)).status_code == 200
    await activity(client, person, address=ACTIVITY_ADDRESS, location=NEED_POINT)
    full = await activity(client, coordinator, organization_id=org, capacity=1)
    for who in (person, waiting):
        assert (
            await client.post(f"/v1/activities/{full['id']}/join", headers=who.headers)
        ).status_code == 201
    stranger = await member(client)
    assert (
        await client.put(f"/v1/members/me/blocks/{stranger.id}", headers=person.headers)
    ).status_code == 204
    report = {
        "subject_type": "need",
        "subject_id": other_need["id"],
        "reason": "spam",
        "detail": REPORT_DETAIL,
    }
    await _post(client, "/v1/reports", report, person)
    settings = {"push": True}
    assert (
        await client.put("/v1/members/me/notification-settings", json=settings, headers=person.headers)
    ).status_code == 200
    return World(
        person, volunteer, requester, coordinator, org, need["id"], org_need["id"], waiting, full["id"]
    )


async def _post(client: httpx.AsyncClient, path: str, body: dict[str, Any], who: Member) -> dict[str, Any]:
    r = await client.post(path, json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data
