"""The authorisation matrix: every operation in the OpenAPI schema, for every kind of caller.

A new operation without a row here fails the test, so nothing ships unclassified. Objects a
caller may not see are 404, never 403. Here a need is a member's own; the rows for needs a
coordinator filed for the organisation, whose rights follow the filer's current role, are in
tests/test_authorization_filed.py (which fails while an operation on needs or matches lacks one).
"""

import itertools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.notifications.unsubscribe import token_for
from tests.conftest import make_settings
from tests.factories import (
    ALL_SCOPES,
    Member,
    activity_body,
    api_key,
    first_saturday,
    join,
    member,
    need_body,
    offer_body,
    organization,
    weekly_series,
)

HERE = {"lat": 51.5, "lon": -0.12}
CALLERS = (
    "anonymous",
    "owner",
    "other_member",
    "coordinator",
    "other_coordinator",
    "key",
    "key_unscoped",
    "revoked_key",
)
_emails = itertools.count(1)
WEBHOOKS = "webhooks:manage"


@dataclass
class World:
    client: httpx.AsyncClient
    owner: Member
    other: Member
    coordinator: Member
    other_coordinator: Member
    org: str
    other_org: str
    headers: dict[str, dict[str, str]]
    webhook_headers: dict[str, dict[str, str]] = field(default_factory=dict)

    async def need(self) -> str:
        """An organisation-only need of the owner's, filed with the owning organisation."""
        body = need_body(organization_id=self.org, visibility="organization", location=HERE)
        r = await self.client.post("/v1/needs", json=body, headers=self.owner.headers)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def recurring_need(self) -> str:
        """Like `need`, repeating weekly (app/needs/occurrences.py)."""
        fields = weekly_series()
        body = need_body(organization_id=self.org, visibility="organization", location=HERE, **fields)
        r = await self.client.post("/v1/needs", json=body, headers=self.owner.headers)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def offer(self) -> str:
        r = await self.client.post(
            "/v1/offers", json=offer_body(organization_id=self.org), headers=self.owner.headers
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def volunteer_offer(self) -> str:
        """An offer of the other member's that could take the owner's needs."""
        r = await self.client.post(
            "/v1/offers", json=offer_body(location=HERE, availability=[]), headers=self.other.headers
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def match(self, accepted: bool = False) -> str:
        """The coordinator proposes the other member's offer for the owner's need."""
        body = {"need_id": await self.need(), "offer_id": await self.volunteer_offer()}
        r = await self.client.post("/v1/matches", json=body, headers=self.coordinator.headers)
        assert r.status_code == 201, r.text
        if accepted:
            ok = await self.client.post(f"/v1/matches/{r.json()['id']}/accept", headers=self.other.headers)
            assert ok.status_code == 200, ok.text
        return str(r.json()["id"])

    async def claimed(self) -> str:
        """The other member claims the owner's public need (filed with the organisation): proposed,
        waiting for the need's side."""
        body = need_body(organization_id=self.org, location=HERE)
        need = await self.client.post("/v1/needs", json=body, headers=self.owner.headers)
        assert need.status_code == 201, need.text
        pair = {"need_id": need.json()["id"], "offer_id": await self.volunteer_offer()}
        r = await self.client.post("/v1/matches", json=pair, headers=self.other.headers)
        assert (r.status_code, r.json()["status"]) == (201, "proposed"), r.text
        return str(r.json()["id"])

    async def activity(self, joined: bool = False) -> str:
        """An activity the coordinator hosts for the organisation; with `joined`, the owner has a
        confirmed place on it."""
        body = activity_body(organization_id=self.org)
        r = await self.client.post("/v1/activities", json=body, headers=self.coordinator.headers)
        assert r.status_code == 201, r.text
        if joined:
            ok = await self.client.post(f"/v1/activities/{r.json()['id']}/join", headers=self.owner.headers)
            assert ok.status_code == 201, ok.text
        return str(r.json()["id"])

    async def spare_key(self) -> str:
        return str((await api_key(self.client, self.coordinator, self.org, ["needs:read"]))["id"])

    async def webhook(self) -> str:
        body = {"url": "https://hooks.example.org/mutual-aid", "events": ["need.created"]}
        r = await self.client.post(
            f"/v1/organizations/{self.org}/webhooks", json=body, headers=self.coordinator.headers
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


async def make_world(client: httpx.AsyncClient) -> World:
    owner, other, coordinator, other_coordinator = [await member(client) for _ in range(4)]
    org = (await organization(client, coordinator))["id"]
    other_org = (await organization(client, other_coordinator))["id"]
    await join(client, coordinator, org, owner)
    full = await api_key(client, coordinator, org, ALL_SCOPES)
    # `key_unscoped` lacks the one scope the operation needs: only webhooks:manage for the rest,
    # everything but it for webhooks.
    unscoped = await api_key(client, coordinator, org, [WEBHOOKS])
    all_but_webhooks = await api_key(client, coordinator, org, [s for s in ALL_SCOPES if s != WEBHOOKS])
    revoked = await api_key(client, coordinator, org, ALL_SCOPES)
    r = await client.delete(f"/v1/organizations/{org}/api-keys/{revoked['id']}", headers=coordinator.headers)
    assert r.status_code == 204
    headers = {
        "anonymous": {},
        "owner": owner.headers,
        "other_member": other.headers,
        "coordinator": coordinator.headers,
        "other_coordinator": other_coordinator.headers,
        "key": full["headers"],
        "key_unscoped": unscoped["headers"],
        "revoked_key": revoked["headers"],
    }
    world = World(client, owner, other, coordinator, other_coordinator, org, other_org, headers)
    world.webhook_headers = {**headers, "key_unscoped": all_but_webhooks["headers"]}
    return world


Request = Callable[[World], Awaitable[tuple[str, dict[str, Any]]]]


def fixed(path: str, **kwargs: Any) -> Request:
    async def build(w: World) -> tuple[str, dict[str, Any]]:
        return path.format(org=w.org, other=w.other.id), kwargs

    return build


async def appointment(w: World) -> tuple[str, dict[str, Any]]:
    body = {"member_id": w.other.id, "reason": "Its last coordinator closed their account."}
    return f"/v1/admin/organizations/{w.org}/coordinators", {"json": body}


def on_need(suffix: str = "", **kwargs: Any) -> Request:
    async def build(w: World) -> tuple[str, dict[str, Any]]:
        return f"/v1/needs/{await w.need()}{suffix}", kwargs

    return build


def on_occurrence(suffix: str = "") -> Request:
    """A recurring need's occurrences, or its second occurrence with `suffix`."""

    async def build(w: World) -> tuple[str, dict[str, Any]]:
        second = (first_saturday() + timedelta(days=7)).isoformat().replace("+00:00", "Z")
        path = f"/v1/needs/{await w.recurring_need()}/occurrences"
        return (f"{path}/{second}{suffix}" if suffix else path), {}

    return build


def on_offer(**kwargs: Any) -> Request:
    return on_offer_path("", **kwargs)


def on_offer_path(suffix: str, **kwargs: Any) -> Request:
    async def build(w: World) -> tuple[str, dict[str, Any]]:
        return f"/v1/offers/{await w.offer()}{suffix}", kwargs

    return build


def on_activity(suffix: str = "", joined: bool = False, **kwargs: Any) -> Request:
    async def build(w: World) -> tuple[str, dict[str, Any]]:
        return f"/v1/activities/{await w.activity(joined)}{suffix.format(owner=w.owner.id)}", kwargs

    return build


async def new_pair(w: World) -> tuple[str, dict[str, Any]]:
    return "/v1/matches", {"json": {"need_id": await w.need(), "offer_id": await w.volunteer_offer()}}


def on_match(suffix: str = "", accepted: bool = False, **kwargs: Any) -> Request:
    async def build(w: World) -> tuple[str, dict[str, Any]]:
        return f"/v1/matches/{await w.match(accepted)}{suffix}", kwargs

    return build


async def a_message(w: World) -> tuple[str, dict[str, Any]]:
    """A message the volunteer (the other member) wrote on a match, read by id."""
    url = f"/v1/matches/{await w.match()}/messages"
    r = await w.client.post(url, json={"body": "Hello"}, headers=w.other.headers)
    assert r.status_code == 201, r.text
    return f"{url}/{r.json()['id']}", {}


async def owners_feed(w: World) -> tuple[str, dict[str, Any]]:
    """The owner's calendar feed made for this call; its URL, made relative."""
    r = await w.client.post("/v1/members/me/calendar-feed", headers=w.owner.headers)
    assert r.status_code == 201, r.text
    return "/v1/" + str(r.json()["url"]).split("/v1/", 1)[1], {}


async def with_owners_feed(w: World) -> tuple[str, dict[str, Any]]:
    await owners_feed(w)
    return "/v1/members/me/calendar-feed", {}


async def org_run(w: World) -> tuple[str, dict[str, Any]]:
    return "/v1/matching/runs", {"json": {"organization_id": w.org}}


async def new_member_body(w: World) -> tuple[str, dict[str, Any]]:
    n = next(_emails)
    return "/v1/members", {
        "json": {
            "email": f"matrix{n}@example.org",
            "password": "long enough pw",
            "display_name": f"Matrix {n}",
        }
    }


async def login_body(w: World) -> tuple[str, dict[str, Any]]:
    return "/v1/auth/token", {
        "data": {"username": w.owner.data["email"], "password": "correct horse battery"}
    }


async def fresh_refresh_token(w: World) -> tuple[str, dict[str, Any]]:
    login = await w.client.post("/v1/auth/token", data=(await login_body(w))[1]["data"])
    return "/v1/auth/refresh", {"json": {"refresh_token": login.json()["refresh_token"]}}


async def owners_other_session(w: World) -> tuple[str, dict[str, Any]]:
    """A session of the owner's other than the one the matrix calls with."""
    login = await w.client.post("/v1/auth/token", data=(await login_body(w))[1]["data"])
    mine = {"Authorization": f"Bearer {login.json()['access_token']}"}
    listed = await w.client.get("/v1/members/me/sessions", headers=mine)
    current = next(s["id"] for s in listed.json()["items"] if s["current"])
    return f"/v1/members/me/sessions/{current}", {}


async def on_spare_key(w: World) -> tuple[str, dict[str, Any]]:
    return f"/v1/organizations/{w.org}/api-keys/{await w.spare_key()}", {}


def on_webhook(suffix: str = "") -> Request:
    async def build(w: World) -> tuple[str, dict[str, Any]]:
        return f"/v1/organizations/{w.org}/webhooks/{await w.webhook()}{suffix}", {}

    return build


async def _public_need_of_a_volunteer(w: World) -> str:
    """A public need of the organisation's, filed by a volunteer none of the callers is."""
    volunteer = await member(w.client)
    await join(w.client, w.coordinator, w.org, volunteer)
    body = need_body(organization_id=w.org, location=HERE)
    r = await w.client.post("/v1/needs", json=body, headers=volunteer.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def new_report(w: World) -> tuple[str, dict[str, Any]]:
    subject = {"subject_type": "need", "subject_id": await _public_need_of_a_volunteer(w), "reason": "spam"}
    return "/v1/reports", {"json": subject}


def on_report(suffix: str = "", **kwargs: Any) -> Request:
    """The owner's report about the organisation's need: in its coordinator's queue."""

    async def build(w: World) -> tuple[str, dict[str, Any]]:
        _, body = await new_report(w)
        r = await w.client.post("/v1/reports", headers=w.owner.headers, **body)
        assert r.status_code == 201, r.text
        return f"/v1/reports/{r.json()['id']}{suffix}", kwargs

    return build


async def on_stranger(w: World) -> tuple[str, dict[str, Any]]:
    """A block on a member made for this call, so no caller blocks itself or an earlier target."""
    return f"/v1/members/me/blocks/{(await member(w.client)).id}", {}


PUSH_SUBSCRIPTION = {
    "endpoint": "https://push.example.net/wpush/v2/matrix",
    "keys": {
        "p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
        "auth": "tBHItJI5svbpez7KI4CCXg",
    },
}


async def owners_subscription(w: World) -> tuple[str, dict[str, Any]]:
    """A browser subscription of the owner's (a new endpoint each time)."""
    body = {**PUSH_SUBSCRIPTION, "endpoint": f"{PUSH_SUBSCRIPTION['endpoint']}/{next(_emails)}"}
    r = await w.client.post("/v1/members/me/push-subscriptions", json=body, headers=w.owner.headers)
    assert r.status_code == 201, r.text
    return f"/v1/members/me/push-subscriptions/{r.json()['id']}", {}


async def unsubscribe_link(w: World) -> tuple[str, dict[str, Any]]:
    """The owner's one-click unsubscribe link, as their notification mail carries it."""
    token = token_for(uuid.UUID(w.owner.id), make_settings("sqlite://").jwt_secret)
    return "/v1/notifications/unsubscribe", {"params": {"token": token}}


def expect(
    anonymous: int,
    owner: int,
    other_member: int,
    coordinator: int,
    other_coordinator: int,
    key: int,
    key_unscoped: int,
    revoked_key: int,
) -> dict[str, int]:
    return dict(
        zip(
            CALLERS,
            (anonymous, owner, other_member, coordinator, other_coordinator, key, key_unscoped, revoked_key),
            strict=True,
        )
    )


MEMBER_ONLY_200 = expect(401, 200, 200, 200, 200, 403, 403, 401)
COORDINATOR_ONLY_200 = expect(401, 404, 404, 200, 404, 403, 403, 401)
WEBHOOK_MANAGERS_200 = expect(401, 404, 404, 200, 404, 200, 403, 401)
ADMINS_ONLY = expect(401, 403, 403, 403, 403, 403, 403, 401)
EVERYONE_200 = expect(200, 200, 200, 200, 200, 200, 200, 401)
# Activities the coordinator hosts for the organisation: its coordinators and keys with
# activities:write; any other member is told no (the activity itself is public).
HOSTS_200 = expect(401, 403, 403, 200, 403, 200, 403, 401)
CONVERSANTS_200 = expect(401, 200, 200, 404, 404, 404, 403, 401)

MATRIX: dict[tuple[str, str], tuple[Request, dict[str, int]]] = {
    ("POST", "/v1/members"): (new_member_body, expect(201, 201, 201, 201, 201, 201, 201, 401)),
    ("POST", "/v1/auth/token"): (login_body, expect(200, 200, 200, 200, 200, 200, 200, 401)),
    ("GET", "/v1/members/me"): (fixed("/v1/members/me"), MEMBER_ONLY_200),
    ("PATCH", "/v1/members/me"): (fixed("/v1/members/me", json={"display_name": "Renamed"}), MEMBER_ONLY_200),
    ("GET", "/v1/members/me/audit"): (fixed("/v1/members/me/audit"), MEMBER_ONLY_200),
    ("GET", "/v1/members/me/export"): (fixed("/v1/members/me/export"), MEMBER_ONLY_200),
    # Erasure is a member's own, and final: here each member gives a wrong password (403), so no
    # caller's account is gone for the next one; tests/datarights/test_erasure.py erases for real.
    ("DELETE", "/v1/members/me"): (
        fixed("/v1/members/me", json={"password": "not anyone's password"}),
        expect(401, 403, 403, 403, 403, 403, 403, 401),
    ),
    # Blocks are a person's own: API keys act for organisations, never as a member (403).
    ("GET", "/v1/members/me/blocks"): (fixed("/v1/members/me/blocks"), MEMBER_ONLY_200),
    ("PUT", "/v1/members/me/blocks/{member_id}"): (
        on_stranger,
        expect(401, 204, 204, 204, 204, 403, 403, 401),
    ),
    ("DELETE", "/v1/members/me/blocks/{member_id}"): (
        on_stranger,
        expect(401, 204, 204, 204, 204, 403, 403, 401),
    ),
    # Account security: a member's own, never an API key's (keys act for organisations).
    ("POST", "/v1/auth/refresh"): (fresh_refresh_token, expect(200, 200, 200, 200, 200, 200, 200, 401)),
    ("POST", "/v1/auth/logout"): (fixed("/v1/auth/logout"), expect(401, 204, 204, 204, 204, 403, 403, 401)),
    ("GET", "/v1/members/me/sessions"): (fixed("/v1/members/me/sessions"), MEMBER_ONLY_200),
    ("DELETE", "/v1/members/me/sessions/{session_id}"): (
        owners_other_session,
        expect(401, 204, 404, 404, 404, 403, 403, 401),
    ),
    ("POST", "/v1/members/me/password"): (
        fixed(
            "/v1/members/me/password",
            json={"current_password": "correct horse battery", "new_password": "a brand new passphrase"},
        ),
        expect(401, 204, 204, 204, 204, 403, 403, 401),
    ),
    ("POST", "/v1/auth/password-reset"): (
        fixed("/v1/auth/password-reset", json={"email": "someone@example.org"}),
        expect(202, 202, 202, 202, 202, 202, 202, 401),
    ),
    # Anyone holding a mailed token may redeem it; a made-up one is refused alike for everyone.
    ("POST", "/v1/auth/password-reset/confirm"): (
        fixed(
            "/v1/auth/password-reset/confirm", json={"token": "made-up", "new_password": "a brand new one"}
        ),
        expect(422, 422, 422, 422, 422, 422, 422, 401),
    ),
    ("POST", "/v1/members/me/email"): (
        fixed(
            "/v1/members/me/email", json={"password": "correct horse battery", "new_email": "new@example.org"}
        ),
        expect(401, 202, 202, 202, 202, 403, 403, 401),
    ),
    ("POST", "/v1/members/me/email-verification"): (
        fixed("/v1/members/me/email-verification"),
        expect(401, 202, 202, 202, 202, 403, 403, 401),
    ),
    ("POST", "/v1/auth/verify-email"): (
        fixed("/v1/auth/verify-email", json={"token": "made-up"}),
        expect(422, 422, 422, 422, 422, 422, 422, 401),
    ),
    ("POST", "/v1/organizations"): (
        fixed("/v1/organizations", json={"name": "New group"}),
        expect(401, 201, 201, 201, 201, 403, 403, 401),
    ),
    ("GET", "/v1/organizations"): (
        fixed("/v1/organizations"),
        expect(200, 200, 200, 200, 200, 200, 200, 401),
    ),
    ("GET", "/v1/organizations/{organization_id}"): (
        fixed("/v1/organizations/{org}"),
        expect(200, 200, 200, 200, 200, 200, 200, 401),
    ),
    ("PATCH", "/v1/organizations/{organization_id}"): (
        fixed("/v1/organizations/{org}", json={"require_verified_email": True}),
        expect(401, 403, 403, 200, 403, 403, 403, 401),
    ),
    ("PUT", "/v1/organizations/{organization_id}/members/{member_id}"): (
        fixed("/v1/organizations/{org}/members/{other}", json={"role": "volunteer"}),
        expect(401, 403, 403, 201, 403, 403, 403, 401),
    ),
    ("POST", "/v1/organizations/{organization_id}/api-keys"): (
        fixed("/v1/organizations/{org}/api-keys", json={"name": "More", "scopes": ["needs:read"]}),
        expect(401, 404, 404, 201, 404, 403, 403, 401),
    ),
    ("GET", "/v1/organizations/{organization_id}/api-keys"): (
        fixed("/v1/organizations/{org}/api-keys"),
        COORDINATOR_ONLY_200,
    ),
    ("DELETE", "/v1/organizations/{organization_id}/api-keys/{key_id}"): (
        on_spare_key,
        expect(401, 404, 404, 204, 404, 403, 403, 401),
    ),
    ("GET", "/v1/organizations/{organization_id}/audit"): (
        fixed("/v1/organizations/{org}/audit"),
        COORDINATOR_ONLY_200,
    ),
    ("POST", "/v1/needs"): (
        fixed("/v1/needs", json=need_body()),
        expect(401, 201, 201, 201, 201, 201, 403, 401),
    ),
    ("POST", "/v1/needs/batch"): (
        fixed("/v1/needs/batch", json={"items": [need_body()]}),
        expect(401, 200, 200, 200, 200, 200, 403, 401),
    ),
    ("GET", "/v1/needs"): (fixed("/v1/needs"), expect(200, 200, 200, 200, 200, 200, 403, 401)),
    ("GET", "/v1/needs/{need_id}"): (on_need(), expect(404, 200, 404, 200, 404, 200, 403, 401)),
    ("PATCH", "/v1/needs/{need_id}"): (
        on_need(json={"title": "Changed"}),
        expect(401, 200, 404, 200, 404, 200, 403, 401),
    ),
    ("POST", "/v1/needs/{need_id}/cancel"): (
        on_need("/cancel"),
        expect(401, 200, 404, 200, 404, 200, 403, 401),
    ),
    ("GET", "/v1/needs/{need_id}/occurrences"): (
        on_occurrence(),
        expect(404, 200, 404, 200, 404, 200, 403, 401),
    ),
    ("POST", "/v1/needs/{need_id}/occurrences/{start}/cancel"): (
        on_occurrence("/cancel"),
        expect(401, 200, 404, 200, 404, 200, 403, 401),
    ),
    ("POST", "/v1/offers"): (
        fixed("/v1/offers", json=offer_body()),
        expect(401, 201, 201, 201, 201, 403, 403, 401),
    ),
    ("GET", "/v1/offers"): (fixed("/v1/offers"), expect(401, 200, 200, 200, 200, 200, 403, 401)),
    ("GET", "/v1/offers/{offer_id}"): (on_offer(), expect(401, 200, 404, 200, 404, 200, 403, 401)),
    ("PATCH", "/v1/offers/{offer_id}"): (
        on_offer(json={"capacity": 2}),
        expect(401, 200, 404, 403, 404, 403, 403, 401),
    ),
    ("POST", "/v1/matches"): (new_pair, expect(401, 201, 404, 201, 404, 201, 403, 401)),
    ("GET", "/v1/matches"): (fixed("/v1/matches"), expect(401, 200, 200, 200, 200, 200, 403, 401)),
    ("GET", "/v1/matches/{match_id}"): (on_match(), expect(401, 200, 200, 200, 404, 200, 403, 401)),
    ("POST", "/v1/matches/{match_id}/accept"): (
        on_match("/accept"),
        expect(401, 403, 200, 403, 404, 403, 403, 401),
    ),
    ("POST", "/v1/matches/{match_id}/decline"): (
        on_match("/decline"),
        expect(401, 403, 200, 403, 404, 403, 403, 401),
    ),
    ("POST", "/v1/matches/{match_id}/complete"): (
        on_match("/complete", accepted=True),
        expect(401, 200, 200, 200, 404, 200, 403, 401),
    ),
    ("POST", "/v1/matches/{match_id}/cancel"): (
        on_match("/cancel"),
        expect(401, 200, 200, 200, 404, 200, 403, 401),
    ),
    # Messages: the volunteer (other member) and the requester (owner) only; the need's
    # organisation's coordinators and keys speak only for its needs filed for someone
    # (tests/test_authorization_filed.py).
    ("GET", "/v1/matches/{match_id}/messages"): (on_match("/messages"), CONVERSANTS_200),
    ("GET", "/v1/matches/{match_id}/messages/{message_id}"): (a_message, CONVERSANTS_200),
    ("POST", "/v1/matches/{match_id}/messages"): (
        on_match("/messages", json={"body": "Hello"}),
        expect(401, 201, 201, 404, 404, 404, 403, 401),
    ),
    ("GET", "/v1/needs/{need_id}/candidates"): (
        on_need("/candidates"),
        expect(401, 200, 404, 200, 404, 200, 403, 401),
    ),
    ("GET", "/v1/offers/{offer_id}/opportunities"): (
        on_offer_path("/opportunities"),
        expect(401, 200, 404, 200, 404, 200, 403, 401),
    ),
    ("POST", "/v1/matching/runs"): (org_run, expect(401, 404, 404, 200, 404, 200, 403, 401)),
    ("POST", "/v1/organizations/{organization_id}/webhooks"): (
        fixed(
            "/v1/organizations/{org}/webhooks",
            json={"url": "https://hooks.example.org/mutual-aid", "events": ["match.accepted"]},
        ),
        expect(401, 404, 404, 201, 404, 201, 403, 401),
    ),
    ("GET", "/v1/organizations/{organization_id}/webhooks"): (
        fixed("/v1/organizations/{org}/webhooks"),
        WEBHOOK_MANAGERS_200,
    ),
    ("GET", "/v1/organizations/{organization_id}/webhooks/{webhook_id}"): (
        on_webhook(),
        WEBHOOK_MANAGERS_200,
    ),
    ("DELETE", "/v1/organizations/{organization_id}/webhooks/{webhook_id}"): (
        on_webhook(),
        expect(401, 404, 404, 204, 404, 204, 403, 401),
    ),
    ("GET", "/v1/organizations/{organization_id}/webhooks/{webhook_id}/deliveries"): (
        on_webhook("/deliveries"),
        WEBHOOK_MANAGERS_200,
    ),
    ("GET", "/v1/notifications"): (fixed("/v1/notifications"), MEMBER_ONLY_200),
    ("POST", "/v1/notifications/read"): (
        fixed("/v1/notifications/read", json={"all": True}),
        expect(401, 204, 204, 204, 204, 403, 403, 401),
    ),
    # Members only, like the inbox: a stream opened here ends after the test settings' 0.3 s.
    ("GET", "/v1/notifications/stream"): (fixed("/v1/notifications/stream"), MEMBER_ONLY_200),
    ("GET", "/v1/members/me/notification-settings"): (
        fixed("/v1/members/me/notification-settings"),
        MEMBER_ONLY_200,
    ),
    ("PUT", "/v1/members/me/notification-settings"): (
        fixed("/v1/members/me/notification-settings", json={"push": True}),
        MEMBER_ONLY_200,
    ),
    ("GET", "/v1/push/public-key"): (fixed("/v1/push/public-key"), EVERYONE_200),
    ("GET", "/v1/members/me/push-subscriptions"): (
        fixed("/v1/members/me/push-subscriptions"),
        MEMBER_ONLY_200,
    ),
    ("POST", "/v1/members/me/push-subscriptions"): (
        fixed("/v1/members/me/push-subscriptions", json=PUSH_SUBSCRIPTION),
        expect(401, 201, 201, 201, 201, 403, 403, 401),
    ),
    # Only the owner's own: anyone else's id is as unknown as a made-up one.
    ("DELETE", "/v1/members/me/push-subscriptions/{subscription_id}"): (
        owners_subscription,
        expect(401, 204, 404, 404, 404, 403, 403, 401),
    ),
    # The link is the credential (RFC 8058): whoever holds it, with or without a login.
    ("GET", "/v1/notifications/unsubscribe"): (unsubscribe_link, EVERYONE_200),
    ("POST", "/v1/notifications/unsubscribe"): (unsubscribe_link, EVERYONE_200),
    ("POST", "/v1/reports"): (new_report, expect(401, 201, 201, 201, 201, 403, 403, 401)),
    ("GET", "/v1/reports"): (fixed("/v1/reports"), MEMBER_ONLY_200),
    ("GET", "/v1/reports/{report_id}"): (on_report(), expect(401, 200, 404, 200, 404, 403, 403, 401)),
    ("POST", "/v1/reports/{report_id}/resolve"): (
        on_report("/resolve", json={"action": "warn", "statement": "Checked; a warning."}),
        expect(401, 403, 404, 200, 404, 403, 403, 401),
    ),
    ("GET", "/v1/organizations/{organization_id}/reports"): (
        fixed("/v1/organizations/{org}/reports"),
        COORDINATOR_ONLY_200,
    ),
    # Platform admins only: none of these callers is one (tests/safety has the admins' own tests).
    ("POST", "/v1/admin/members/{member_id}/suspend"): (
        fixed("/v1/admin/members/{other}/suspend", json={"reason": "Harassment."}),
        ADMINS_ONLY,
    ),
    ("POST", "/v1/admin/members/{member_id}/reinstate"): (
        fixed("/v1/admin/members/{other}/reinstate"),
        ADMINS_ONLY,
    ),
    ("POST", "/v1/admin/organizations/{organization_id}/coordinators"): (
        appointment,
        ADMINS_ONLY,
    ),
    ("POST", "/v1/activities"): (
        fixed("/v1/activities", json=activity_body()),
        expect(401, 201, 201, 201, 201, 201, 403, 401),
    ),
    ("GET", "/v1/activities"): (fixed("/v1/activities"), EVERYONE_200),
    ("GET", "/v1/activities/{activity_id}"): (on_activity(), EVERYONE_200),
    ("PATCH", "/v1/activities/{activity_id}"): (on_activity(json={"title": "Changed"}), HOSTS_200),
    ("POST", "/v1/activities/{activity_id}/cancel"): (on_activity("/cancel"), HOSTS_200),
    # The coordinator hosts it: a host is on their own activity already (409).
    ("POST", "/v1/activities/{activity_id}/join"): (
        on_activity("/join"),
        expect(401, 201, 201, 409, 201, 403, 403, 401),
    ),
    ("POST", "/v1/activities/{activity_id}/leave"): (
        on_activity("/leave", joined=True),
        expect(401, 204, 404, 404, 404, 403, 403, 401),
    ),
    ("GET", "/v1/activities/{activity_id}/participants"): (on_activity("/participants"), HOSTS_200),
    ("DELETE", "/v1/activities/{activity_id}/participants/{member_id}"): (
        on_activity("/participants/{owner}", joined=True),
        expect(401, 403, 403, 204, 403, 204, 403, 401),
    ),
    # A key of the hosting organisation hosts with `activities:write` alone; one without it is
    # neither host nor participant (GET shows it the public view).
    ("GET", "/v1/activities/{activity_id}/calendar.ics"): (
        on_activity("/calendar.ics", joined=True),
        expect(401, 200, 403, 200, 403, 200, 403, 401),
    ),
    # A calendar feed is a person's own; its URL is its own credential, whoever holds it.
    ("POST", "/v1/members/me/calendar-feed"): (
        fixed("/v1/members/me/calendar-feed"),
        expect(401, 201, 201, 201, 201, 403, 403, 401),
    ),
    ("GET", "/v1/members/me/calendar-feed"): (
        with_owners_feed,
        expect(401, 200, 404, 404, 404, 403, 403, 401),
    ),
    ("DELETE", "/v1/members/me/calendar-feed"): (
        fixed("/v1/members/me/calendar-feed"),
        expect(401, 204, 204, 204, 204, 403, 403, 401),
    ),
    ("GET", "/v1/calendar/{token}.ics"): (owners_feed, EVERYONE_200),
    ("GET", "/v1/hsds/organizations"): (fixed("/v1/hsds/organizations"), EVERYONE_200),
    ("GET", "/v1/hsds/services"): (fixed("/v1/hsds/services"), EVERYONE_200),
    ("GET", "/healthz"): (fixed("/healthz"), expect(200, 200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/readyz"): (fixed("/readyz"), expect(200, 200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/metrics"): (fixed("/metrics"), expect(200, 200, 200, 200, 200, 200, 200, 200)),
}


async def test_every_operation_is_classified(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operations = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    assert operations - MATRIX.keys() == set(), "add these operations to the authorisation matrix"
    assert MATRIX.keys() - operations == set(), "the matrix names operations the app no longer has"


@pytest.mark.parametrize("operation", sorted(MATRIX), ids=lambda op: f"{op[0]} {op[1]}")
async def test_authorisation_matrix(client: httpx.AsyncClient, operation: tuple[str, str]) -> None:
    world = await make_world(client)
    build, expected = MATRIX[operation]
    headers = world.webhook_headers if "/webhooks" in operation[1] else world.headers
    got = {}
    for caller in CALLERS:
        path, kwargs = await build(world)
        r = await client.request(operation[0], path, headers=headers[caller], **kwargs)
        got[caller] = r.status_code
        if r.status_code >= 400:
            assert r.headers["content-type"] == "application/problem+json"
    assert got == expected


# A volunteer's claim is answered by the need's side (requester, coordinators, keys); the
# volunteer who proposed it may not answer it (403: they know the match), strangers see nothing.
CLAIM_ANSWERS = expect(401, 200, 403, 200, 404, 200, 403, 401)


@pytest.mark.parametrize("action", ["accept", "decline"])
async def test_a_claim_is_answered_by_the_needs_side_only(client: httpx.AsyncClient, action: str) -> None:
    world = await make_world(client)
    got = {}
    for caller in CALLERS:
        r = await client.post(f"/v1/matches/{await world.claimed()}/{action}", headers=world.headers[caller])
        got[caller] = r.status_code
        if r.status_code >= 400:
            assert r.headers["content-type"] == "application/problem+json"
    assert got == CLAIM_ANSWERS


async def test_a_key_is_useless_against_another_organisations_records(client: httpx.AsyncClient) -> None:
    w = await make_world(client)
    theirs = need_body(organization_id=w.other_org, visibility="organization")
    need = (await client.post("/v1/needs", json=theirs, headers=w.other_coordinator.headers)).json()
    key = w.headers["key"]
    for method, path in [
        ("GET", f"/v1/needs/{need['id']}"),
        ("PATCH", f"/v1/needs/{need['id']}"),
        ("POST", f"/v1/needs/{need['id']}/cancel"),
        ("GET", f"/v1/organizations/{w.other_org}/audit"),
        ("GET", f"/v1/organizations/{w.other_org}/api-keys"),
        ("GET", f"/v1/organizations/{w.other_org}/webhooks"),
        ("POST", f"/v1/organizations/{w.other_org}/webhooks"),
    ]:
        bodies = {
            "PATCH": {"title": "x"},
            "POST": {"url": "https://hooks.example.org/x", "events": ["need.created"]},
        }
        r = await client.request(method, path, headers=key, json=bodies.get(method))
        assert r.status_code == 404, (method, path, r.text)
    listed = (await client.get("/v1/needs", headers=key)).json()["items"]
    assert need["id"] not in {n["id"] for n in listed}
