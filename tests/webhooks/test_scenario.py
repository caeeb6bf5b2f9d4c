"""End to end: a day of an organisation's needs and matches reaches a real receiver, every
event at least once, every request signed, no personal data, through three failures."""

from typing import Any

import httpx
import orjson
from fastapi import FastAPI
from standardwebhooks import Webhook

from app.webhooks.models import EventPayload
from tests.factories import Member, activity_body, join, member, need_body, offer_body
from tests.webhooks.support import ALL_EVENTS, Receiver, Reply, drain, org_with_webhook

# Distinctive digits: "51.5" alone also turns up inside timestamps (seconds 51.5...).
HERE = {"lat": 51.50731, "lon": -0.12763}


class Day:
    def __init__(self, client: httpx.AsyncClient, org: str, coordinator: Member, requester: Member) -> None:
        self.client, self.org, self.coordinator, self.requester = client, org, coordinator, requester
        self.expected: list[tuple[str, dict[str, str]]] = []

    async def need(self) -> str:
        body = need_body(organization_id=self.org, location=HERE)
        r = await self.client.post("/v1/needs", json=body, headers=self.requester.headers)
        assert r.status_code == 201, r.text
        self._need_event("need.created", r.json()["id"], "open")
        return str(r.json()["id"])

    async def patch(self, need_id: str) -> None:
        body = {"title": "Shopping, and a prescription"}
        r = await self.client.patch(f"/v1/needs/{need_id}", json=body, headers=self.requester.headers)
        assert r.status_code == 200, r.text
        self._need_event("need.updated", need_id, "open")

    async def cancel_need(self, need_id: str, active_match: tuple[str, str]) -> None:
        r = await self.client.post(f"/v1/needs/{need_id}/cancel", headers=self.requester.headers)
        assert r.status_code == 200, r.text
        self._need_event("need.cancelled", need_id, "cancelled")
        self._match_event("cancelled", need_id, *active_match)

    async def propose(self, need_id: str, offer_id: str) -> str:
        body = {"need_id": need_id, "offer_id": offer_id}
        r = await self.client.post("/v1/matches", json=body, headers=self.coordinator.headers)
        assert r.status_code == 201, r.text
        self._match_event("proposed", need_id, r.json()["id"], offer_id)
        return str(r.json()["id"])

    async def step(self, who: Member, action: str, need_id: str, match_id: str, offer_id: str) -> None:
        r = await self.client.post(f"/v1/matches/{match_id}/{action}", headers=who.headers)
        assert r.status_code == 200, r.text
        self._match_event(r.json()["status"], need_id, match_id, offer_id)

    async def gathering(self) -> None:
        """An activity the organisation hosts: created, renamed, cancelled."""
        body = activity_body(organization_id=self.org)
        r = await self.client.post("/v1/activities", json=body, headers=self.coordinator.headers)
        assert r.status_code == 201, r.text
        activity_id = r.json()["id"]
        path = f"/v1/activities/{activity_id}"
        assert (
            await self.client.patch(path, json={"title": "Longer walk"}, headers=self.coordinator.headers)
        ).is_success
        assert (await self.client.post(f"{path}/cancel", headers=self.coordinator.headers)).is_success
        for type, status in (("created", "open"), ("updated", "open"), ("cancelled", "cancelled")):
            data = {"organization_id": self.org, "activity_id": activity_id, "status": status}
            self.expected.append((f"activity.{type}", data))

    def need_moved(self, need_id: str, status: str) -> None:
        """A step that moved the need's own status (matched, fulfilled) also sends need.updated."""
        self._need_event("need.updated", need_id, status)

    def _need_event(self, type: str, need_id: str, status: str) -> None:
        self.expected.append((type, {"organization_id": self.org, "need_id": need_id, "status": status}))

    def _match_event(self, status: str, need_id: str, match_id: str, offer_id: str) -> None:
        data = {
            "organization_id": self.org,
            "need_id": need_id,
            "match_id": match_id,
            "offer_id": offer_id,
            "status": status,
        }
        self.expected.append((f"match.{status}", data))


async def _offer(client: httpx.AsyncClient, volunteer: Member) -> str:
    body = offer_body(location=HERE, availability=[])
    r = await client.post("/v1/offers", json=body, headers=volunteer.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _live_a_day(client: httpx.AsyncClient, day: Day, volunteers: list[Member]) -> None:
    offers = [await _offer(client, v) for v in volunteers]
    first = await day.need()
    await day.patch(first)
    match = await day.propose(first, offers[0])
    await day.step(volunteers[0], "accept", first, match, offers[0])
    day.need_moved(first, "matched")
    await day.step(day.coordinator, "complete", first, match, offers[0])
    day.need_moved(first, "fulfilled")

    declined = await day.need()
    match = await day.propose(declined, offers[1])
    await day.step(volunteers[1], "decline", declined, match, offers[1])

    withdrawn = await day.need()
    match = await day.propose(withdrawn, offers[2])
    await day.step(day.coordinator, "cancel", withdrawn, match, offers[2])

    called_off = await day.need()
    match = await day.propose(called_off, offers[3])
    await day.step(volunteers[3], "accept", called_off, match, offers[3])
    day.need_moved(called_off, "matched")
    await day.cancel_need(called_off, (match, offers[3]))
    await day.gathering()


def _personal_data(people: list[Member]) -> list[str]:
    sample = need_body()
    found = [sample["address"][-12:], sample["contact"]["name"], sample["contact"]["phone"], sample["title"]]
    found += ["51.50731", "-0.12763", "lat", "lon", "email", "phone", "address", "contact", "display_name"]
    for person in people:
        found += [person.data["email"], person.data["display_name"], person.data["phone"]]
    return found


async def test_every_event_reaches_the_receiver_signed_and_without_personal_data(
    hook_app: FastAPI, hook_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.plan = lambda n: Reply(500) if n < 3 else Reply(204)
    coordinator, requester = await member(hook_client), await member(hook_client)
    org, hook = await org_with_webhook(hook_client, coordinator, receiver.url)
    await join(hook_client, coordinator, org, requester)
    volunteers = [await member(hook_client) for _ in range(4)]
    day = Day(hook_client, org, coordinator, requester)
    await _live_a_day(hook_client, day, volunteers)
    assert {t for t, _ in day.expected} == set(ALL_EVENTS)

    attempts = await drain(hook_app)

    # Three refusals, each retried once: every event arrives, some twice over the wire.
    assert attempts == len(day.expected) + 3
    assert len(receiver.requests) == len(day.expected) + 3
    verifier = Webhook(hook["secret"])
    payloads: dict[str, dict[str, Any]] = {}
    for request in receiver.requests:
        assert request.path == "/hooks/mutual-aid"
        assert request.headers["content-type"] == "application/json"
        payload = verifier.verify(request.body, request.headers)
        assert payload == orjson.loads(request.body)
        assert payloads.setdefault(request.headers["webhook-id"], payload) == payload
    assert len(payloads) == len(day.expected)
    got = sorted((p["type"], sorted(p["data"].items())) for p in payloads.values())
    assert got == sorted((t, sorted(d.items())) for t, d in day.expected)
    for p in payloads.values():
        assert set(p) == {"type", "timestamp", "data"}
        EventPayload.model_validate(p)  # the schema /docs shows receivers
    wire = b"".join(r.body for r in receiver.requests).decode()
    for secret in _personal_data([coordinator, requester, *volunteers]):
        assert secret not in wire

    log = await hook_client.get(
        f"/v1/organizations/{org}/webhooks/{hook['id']}/deliveries?limit=100", headers=coordinator.headers
    )
    items = log.json()["items"]
    assert len(items) == len(day.expected)
    assert {i["status"] for i in items} == {"delivered"}
    retried = [i for i in items if i["attempts"] == 2]
    assert len(retried) == 3
    for item in retried:
        assert [a["status_code"] for a in item["attempt_log"]] == [500, 204]
        assert item["attempt_log"][0]["error"] == "The receiver answered 500."
        assert item["last_status_code"] == 204
        assert item["last_error"] is None
        assert item["next_attempt_at"] is None
