"""Inputs at the edge of what the API accepts: each is a 4xx problem, never a 500, on SQLite and
on Postgres (which, unlike SQLite, enforces column lengths and integer ranges). Each case was a
500 once: a value valid as sent grew in its stored form past its column, or a parser took what
its check let through as something else."""

import base64
import json

import httpx
import pytest

from app.core import recurrence
from tests.factories import (
    NEXT_YEAR,
    activity_body,
    api_key,
    assert_problem,
    member,
    need_body,
    organization,
    weekly_series,
)


def _long_rule(day: str) -> str:
    """A weekly rule of 200 characters sent, with a date-only UNTIL: its normal form, as stored,
    has a UTC date-time there, 8 characters more (RFC 5545 3.3.10)."""
    base = f"FREQ=WEEKLY;UNTIL={NEXT_YEAR + 1}0301;BYDAY="
    rule = base + ",".join([day] * ((200 - len(base) + 1) // 3))
    assert len(rule) == 200
    return rule


async def test_a_rule_whose_stored_form_outgrows_its_column_is_422(client: httpx.AsyncClient) -> None:
    owner = await member(client)
    org = (await organization(client, owner))["id"]
    key = await api_key(client, owner, org, ["needs:read", "needs:write"])
    series = weekly_series(recurrence={"rule": _long_rule("SA")})
    r = await client.post("/v1/needs", json=need_body(**series), headers=owner.headers)
    assert assert_problem(r, 422)["errors"][0]["loc"] == ["body", "recurrence", "rule"]
    # In a batch, only that item is refused; the others are created.
    items = [need_body(organization_id=org, **series), need_body(organization_id=org)]
    r = await client.post("/v1/needs/batch", json={"items": items}, headers=key["headers"])
    assert r.status_code == 200, r.text
    assert [x["status"] for x in r.json()["results"]] == [422, 201]
    r = await client.post(
        "/v1/activities", json=activity_body(recurrence={"rule": _long_rule("MO")}), headers=owner.headers
    )
    assert assert_problem(r, 422)["errors"][0]["loc"] == ["body", "recurrence", "rule"]


def test_a_stored_rule_of_that_length_still_reads() -> None:
    """SQLite, which enforces no length, kept such rules before they were refused: reading one
    (occurrences, batch runs, the HSDS feed) must go on working; only new input is refused."""
    rule = recurrence.parse(_long_rule("SA"))
    assert len(rule.text) == 208
    with pytest.raises(recurrence.RuleError, match="normal form"):
        recurrence.check_storable(rule)


async def test_a_webhook_url_whose_normal_form_is_too_long_is_422(client: httpx.AsyncClient) -> None:
    coordinator = await member(client)
    org = (await organization(client, coordinator))["id"]
    for url in (
        "https://example.org/" + " " * 1900 + "x",  # each space is stored as %20
        "https://ex\u00e4mple.org/" + "a" * 1975,  # the host is stored in its xn-- form
    ):
        body = {"url": url, "events": ["need.created"]}
        r = await client.post(f"/v1/organizations/{org}/webhooks", json=body, headers=coordinator.headers)
        assert assert_problem(r, 422)["errors"][0]["loc"] == ["body", "url"]


@pytest.mark.parametrize(
    "tag",
    ['"\u00b2"', '"\u00b9\u00b2"', '"' + "9" * 5000 + '"'],
    ids=["superscript", "superscripts", "5000-digits"],
)
async def test_an_if_match_that_is_no_version_of_ours_never_matches(
    client: httpx.AsyncClient, tag: str
) -> None:
    owner = await member(client)
    need = await client.post("/v1/needs", json=need_body(), headers=owner.headers)
    assert need.status_code == 201, need.text
    # Latin-1 bytes, as a client sends a header (RFC 9110 5.5): superscript digits among them.
    headers = {k.encode(): v.encode() for k, v in owner.headers.items()}
    headers[b"If-Match"] = tag.encode("latin-1")
    r = await client.patch(f"/v1/needs/{need.json()['id']}", json={"title": "Changed"}, headers=headers)
    assert_problem(r, 412)


@pytest.mark.parametrize("after", [2**31, True, 0, -1, 1.5], ids=str)
async def test_a_participants_cursor_past_its_column_or_not_a_number_is_422(
    client: httpx.AsyncClient, after: object
) -> None:
    host = await member(client)
    activity = await client.post("/v1/activities", json=activity_body(), headers=host.headers)
    assert activity.status_code == 201, activity.text
    cursor = base64.urlsafe_b64encode(json.dumps(["p", after]).encode()).decode().rstrip("=")
    r = await client.get(
        f"/v1/activities/{activity.json()['id']}/participants",
        params={"cursor": cursor},
        headers=host.headers,
    )
    assert assert_problem(r, 422)["errors"][0]["loc"] == ["query", "cursor"]
