"""The authorisation matrix for needs a coordinator filed for their organisation.

Rights to such a need follow the caller's current role: its filer has them while a coordinator,
and nothing more than anyone else once demoted or removed. Every operation on a need or on its
matches has a row here (the main matrix, tests/test_authorization.py, names them all).
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import col, delete

from app.organizations.models import Membership
from tests.factories import (
    ALL_SCOPES,
    Member,
    api_key,
    first_saturday,
    join,
    member,
    need_body,
    offer_body,
    organization,
    weekly_series,
)
from tests.test_authorization import MATRIX

HERE = {"lat": 51.5, "lon": -0.12}
CALLERS = ("filer", "demoted_filer", "removed_filer", "other_coordinator", "key", "volunteer")


@dataclass
class Desk:
    client: httpx.AsyncClient
    application: FastAPI
    org: str
    lead: Member
    volunteer: Member
    helper: Member  # a second volunteer, for new pairs (one volunteer is matched once per need)
    key: dict[str, str]

    async def ok(self, response: httpx.Response) -> dict[str, Any]:
        assert response.status_code in (200, 201, 204), response.text
        return response.json() if response.content else {}

    async def offer(self, of: Member | None = None) -> str:
        who = of or self.volunteer
        r = await self.client.post(
            "/v1/offers", json=offer_body(location=HERE, availability=[]), headers=who.headers
        )
        return str((await self.ok(r))["id"])

    async def filed(self, filer: Member) -> tuple[str, str]:
        """An organisation-only weekly need `filer` files while a coordinator, and the volunteer's
        match on it, which the filer proposed and the volunteer accepted."""
        await join(self.client, self.lead, self.org, filer, role="coordinator")
        body = need_body(
            organization_id=self.org,
            visibility="organization",
            location=HERE,
            volunteers_needed=3,
            **weekly_series(),
        )
        need = await self.ok(await self.client.post("/v1/needs", json=body, headers=filer.headers))
        pair = {"need_id": need["id"], "offer_id": await self.offer()}
        match = await self.ok(await self.client.post("/v1/matches", json=pair, headers=filer.headers))
        await self.ok(
            await self.client.post(f"/v1/matches/{match['id']}/accept", headers=self.volunteer.headers)
        )
        return str(need["id"]), str(match["id"])

    async def demote(self, filer: Member) -> None:
        await join(self.client, self.lead, self.org, filer, role="volunteer")

    async def remove(self, filer: Member) -> None:
        async with self.application.state.sessionmaker() as session:
            await session.exec(
                delete(Membership).where(
                    col(Membership.organization_id) == uuid.UUID(self.org),
                    col(Membership.member_id) == uuid.UUID(filer.id),
                )
            )
            await session.commit()


@dataclass(frozen=True)
class Target:
    desk: Desk
    need: str
    match: str


Request = Callable[[Target], Awaitable[tuple[str, str, dict[str, Any]]]]


def on(method: str, template: str, **kwargs: Any) -> Request:
    async def build(t: Target) -> tuple[str, str, dict[str, Any]]:
        return method, template.format(need=t.need, match=t.match, org=t.desk.org), kwargs

    return build


async def new_pair(t: Target) -> tuple[str, str, dict[str, Any]]:
    return "POST", "/v1/matches", {"json": {"need_id": t.need, "offer_id": await t.desk.offer(t.desk.helper)}}


def expect(*codes: int) -> dict[str, int]:
    return dict(zip(CALLERS, codes, strict=True))


# The accepted volunteer sees the need, so is refused its owner's rights (403), not told it is gone.
OWNER_RIGHTS_200 = expect(200, 404, 404, 200, 200, 403)
MATCH_SIDE_200 = expect(200, 404, 404, 200, 200, 200)
# The second Saturday of `weekly_series` (a path segment: no braces for `format` to fill).
SECOND = (first_saturday() + timedelta(days=7)).isoformat().replace("+00:00", "Z")


async def a_message(t: Target) -> tuple[str, str, dict[str, Any]]:
    """A message the volunteer wrote on the match, read by id."""
    url = f"/v1/matches/{t.match}/messages"
    written = await t.desk.ok(
        await t.desk.client.post(url, json={"body": "Hello"}, headers=t.desk.volunteer.headers)
    )
    return "GET", f"{url}/{written['id']}", {}


# An organisation's need filed for someone has no requester: its coordinators now are its side
# of the conversation; a demoted or removed filer and a key are not (404).
CONVERSANTS_200 = expect(200, 404, 404, 200, 404, 200)

FILED_MATRIX: dict[tuple[str, str], tuple[Request, dict[str, int]]] = {
    ("GET", "/v1/needs/{need_id}"): (on("GET", "/v1/needs/{need}"), expect(200, 404, 404, 200, 200, 200)),
    ("PATCH", "/v1/needs/{need_id}"): (
        on("PATCH", "/v1/needs/{need}", json={"title": "New"}),
        OWNER_RIGHTS_200,
    ),
    ("POST", "/v1/needs/{need_id}/cancel"): (on("POST", "/v1/needs/{need}/cancel"), OWNER_RIGHTS_200),
    ("GET", "/v1/needs/{need_id}/candidates"): (on("GET", "/v1/needs/{need}/candidates"), OWNER_RIGHTS_200),
    ("GET", "/v1/needs/{need_id}/occurrences"): (
        on("GET", "/v1/needs/{need}/occurrences"),
        expect(200, 404, 404, 200, 200, 200),
    ),
    ("POST", "/v1/needs/{need_id}/occurrences/{start}/cancel"): (
        on("POST", "/v1/needs/{need}/occurrences/" + SECOND + "/cancel"),
        OWNER_RIGHTS_200,
    ),
    ("POST", "/v1/matches"): (new_pair, expect(201, 404, 404, 201, 201, 404)),
    # A filer demoted or removed lists none of the need's matches (checked below).
    ("GET", "/v1/matches"): (on("GET", "/v1/matches?need_id={need}"), expect(200, 200, 200, 200, 200, 200)),
    ("GET", "/v1/matches/{match_id}"): (on("GET", "/v1/matches/{match}"), MATCH_SIDE_200),
    # The filer proposed it: accepting or declining is the volunteer's (403 to the need's side,
    # 409 to the volunteer now that it is accepted); a demoted filer has no side of it at all.
    ("POST", "/v1/matches/{match_id}/accept"): (
        on("POST", "/v1/matches/{match}/accept"),
        expect(403, 404, 404, 403, 403, 409),
    ),
    ("POST", "/v1/matches/{match_id}/decline"): (
        on("POST", "/v1/matches/{match}/decline"),
        expect(403, 404, 404, 403, 403, 409),
    ),
    ("POST", "/v1/matches/{match_id}/complete"): (on("POST", "/v1/matches/{match}/complete"), MATCH_SIDE_200),
    ("POST", "/v1/matches/{match_id}/cancel"): (on("POST", "/v1/matches/{match}/cancel"), MATCH_SIDE_200),
    ("GET", "/v1/matches/{match_id}/messages"): (on("GET", "/v1/matches/{match}/messages"), CONVERSANTS_200),
    ("GET", "/v1/matches/{match_id}/messages/{message_id}"): (a_message, CONVERSANTS_200),
    ("POST", "/v1/matches/{match_id}/messages"): (
        on("POST", "/v1/matches/{match}/messages", json={"body": "Hello"}),
        expect(201, 404, 404, 201, 404, 201),
    ),
    ("GET", "/v1/organizations/{organization_id}/audit"): (
        on("GET", "/v1/organizations/{org}/audit"),
        expect(200, 404, 404, 200, 403, 404),
    ),
}


def test_every_operation_on_a_need_or_its_matches_has_a_row() -> None:
    on_needs = {op for op in MATRIX if "{need_id}" in op[1] or op[1].startswith("/v1/matches")}
    assert on_needs - FILED_MATRIX.keys() == set(), "add these operations to FILED_MATRIX"
    assert FILED_MATRIX.keys() <= MATRIX.keys()


async def _desk(client: httpx.AsyncClient, application: FastAPI) -> Desk:
    lead, volunteer = await member(client), await member(client, phone="+44 7700 900321")
    org = (await organization(client, lead))["id"]
    key = await api_key(client, lead, org, ALL_SCOPES)
    return Desk(client, application, org, lead, volunteer, await member(client), key["headers"])


@pytest.mark.parametrize("operation", sorted(FILED_MATRIX), ids=lambda op: f"{op[0]} {op[1]}")
async def test_filed_need_matrix(
    client: httpx.AsyncClient, application: FastAPI, operation: tuple[str, str]
) -> None:
    desk = await _desk(client, application)
    filer, demoted, removed = [await member(client) for _ in range(3)]
    build, expected = FILED_MATRIX[operation]
    got = {}
    for caller in CALLERS:
        who = {"demoted_filer": demoted, "removed_filer": removed}.get(caller, filer)
        need, match = await desk.filed(who)
        if caller == "demoted_filer":
            await desk.demote(demoted)
        elif caller == "removed_filer":
            await desk.remove(removed)
        headers = {
            "filer": filer.headers,
            "demoted_filer": demoted.headers,
            "removed_filer": removed.headers,
            "other_coordinator": desk.lead.headers,
            "key": desk.key,
            "volunteer": desk.volunteer.headers,
        }[caller]
        method, path, kwargs = await build(Target(desk, need, match))
        r = await client.request(method, path, headers=headers, **kwargs)
        got[caller] = r.status_code
        if r.status_code >= 400:
            assert r.headers["content-type"] == "application/problem+json"
        elif operation == ("GET", "/v1/needs/{need_id}"):
            assert r.json()["view"] == ("participant" if caller == "volunteer" else "owner")
        elif operation == ("GET", "/v1/matches"):
            assert [m["id"] for m in r.json()["items"]] == ([] if caller.endswith("_filer") else [match])
    assert got == expected
