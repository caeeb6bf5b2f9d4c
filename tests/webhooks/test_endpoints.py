"""Subscribing: the secret shown once, who may manage endpoints, and bodies that change nothing."""

import base64
import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import func, select
from standardwebhooks import Webhook

from app.webhooks.models import WebhookEndpoint
from tests.factories import ALL_SCOPES, Member, api_key, assert_problem, join, member, organization
from tests.webhooks.support import ALL_EVENTS

URL = "https://hooks.example.org/mutual-aid"
PUBLIC_KEYS = {"id", "url", "events", "status", "disabled_reason", "disabled_at", "created_by", "created_at"}


async def _org(client: httpx.AsyncClient) -> tuple[Member, str]:
    coordinator = await member(client)
    return coordinator, (await organization(client, coordinator))["id"]


def _path(org: str, suffix: str = "") -> str:
    return f"/v1/organizations/{org}/webhooks{suffix}"


async def test_create_shows_a_standard_webhooks_secret_once(client: httpx.AsyncClient) -> None:
    coordinator, org = await _org(client)
    body = {"url": URL, "events": ["match.accepted", "need.created", "match.accepted"]}
    r = await client.post(_path(org), json=body, headers=coordinator.headers)
    assert r.status_code == 201, r.text
    created = r.json()
    assert set(created) == PUBLIC_KEYS | {"secret"}
    assert created["url"] == URL
    assert created["events"] == ["match.accepted", "need.created"]  # repeats dropped, order kept
    assert created["status"] == "active"
    assert created["disabled_reason"] is None
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    Webhook(secret)  # the receiver's own library accepts it

    listed = (await client.get(_path(org), headers=coordinator.headers)).json()
    one = (await client.get(_path(org, f"/{created['id']}"), headers=coordinator.headers)).json()
    expected = {k: v for k, v in created.items() if k != "secret"}
    assert listed == [expected]
    assert one == expected
    assert secret not in (await client.get(_path(org), headers=coordinator.headers)).text


async def test_each_endpoint_names_who_subscribed_it(client: httpx.AsyncClient) -> None:
    """An endpoint is the organisation's and outlives its subscriber's role, so the list says
    whose it is: the coordinator, or the key (as listed under api-keys)."""
    coordinator, org = await _org(client)
    former = await member(client)
    await join(client, coordinator, org, former, role="coordinator")
    key = await api_key(client, former, org, scopes=["webhooks:manage"])
    by_member = await client.post(
        _path(org), json={"url": URL, "events": ["need.created"]}, headers=former.headers
    )
    by_key = await client.post(
        _path(org),
        json={"url": URL, "events": ["need.created"]},
        headers={"Authorization": f"Bearer {key['key']}"},
    )
    assert (by_member.status_code, by_key.status_code) == (201, 201), (by_member.text, by_key.text)
    assert by_member.json()["created_by"] == {"kind": "member", "id": former.id}
    assert by_key.json()["created_by"] == {"kind": "api_key", "id": key["id"]}
    await join(client, coordinator, org, former, role="volunteer")
    listed = (await client.get(_path(org), headers=coordinator.headers)).json()
    assert {(e["id"], e["created_by"]["kind"], e["created_by"]["id"]) for e in listed} == {
        (by_member.json()["id"], "member", former.id),
        (by_key.json()["id"], "api_key", key["id"]),
    }
    assert (await client.get(_path(org), headers=former.headers)).status_code == 404


async def test_secrets_differ_between_endpoints(client: httpx.AsyncClient) -> None:
    coordinator, org = await _org(client)
    secrets = {
        (
            await client.post(
                _path(org), json={"url": URL, "events": ["need.created"]}, headers=coordinator.headers
            )
        ).json()["secret"]
        for _ in range(3)
    }
    assert len(secrets) == 3


async def test_a_key_with_the_scope_manages_only_its_own_organisation(client: httpx.AsyncClient) -> None:
    coordinator, org = await _org(client)
    key = await api_key(client, coordinator, org, ["webhooks:manage"])
    r = await client.post(_path(org), json={"url": URL, "events": ["need.cancelled"]}, headers=key["headers"])
    assert r.status_code == 201, r.text
    hook = r.json()["id"]
    other_coordinator, other_org = await _org(client)
    other_key = await api_key(client, other_coordinator, other_org, ALL_SCOPES)
    for method, path in [
        ("GET", _path(org)),
        ("GET", _path(org, f"/{hook}")),
        ("GET", _path(org, f"/{hook}/deliveries")),
        ("DELETE", _path(org, f"/{hook}")),
    ]:
        for headers in (other_key["headers"], other_coordinator.headers):
            assert_problem(await client.request(method, path, headers=headers), 404)
    # The endpoint is not reachable through another organisation's path either.
    assert_problem(await client.get(_path(other_org, f"/{hook}"), headers=other_coordinator.headers), 404)
    assert (await client.get(_path(org, f"/{hook}"), headers=coordinator.headers)).status_code == 200


async def test_a_volunteer_of_the_organisation_cannot_see_its_webhooks(client: httpx.AsyncClient) -> None:
    coordinator, org = await _org(client)
    volunteer = await member(client)
    await join(client, coordinator, org, volunteer)
    assert_problem(await client.get(_path(org), headers=volunteer.headers), 404)
    assert_problem(await client.get(_path(org)), 401)


async def test_delete_stops_the_endpoint_at_once(client: httpx.AsyncClient, application: FastAPI) -> None:
    coordinator, org = await _org(client)
    hook = (
        await client.post(
            _path(org), json={"url": URL, "events": ["need.created"]}, headers=coordinator.headers
        )
    ).json()["id"]
    assert (await client.delete(_path(org, f"/{hook}"), headers=coordinator.headers)).status_code == 204
    assert_problem(await client.get(_path(org, f"/{hook}"), headers=coordinator.headers), 404)
    assert_problem(await client.delete(_path(org, f"/{hook}"), headers=coordinator.headers), 404)
    assert (await client.get(_path(org), headers=coordinator.headers)).json() == []
    async with application.state.sessionmaker() as session:
        assert (await session.exec(select(func.count()).select_from(WebhookEndpoint))).one() == 0


async def test_an_organisation_has_at_most_20_endpoints(client: httpx.AsyncClient) -> None:
    coordinator, org = await _org(client)
    for n in range(20):
        body = {"url": f"{URL}/{n}", "events": ["need.created"]}
        assert (await client.post(_path(org), json=body, headers=coordinator.headers)).status_code == 201
    body = assert_problem(
        await client.post(
            _path(org), json={"url": URL, "events": ["need.created"]}, headers=coordinator.headers
        ),
        409,
    )
    assert body["detail"] == "An organization may have at most 20 webhook endpoints."
    assert len((await client.get(_path(org), headers=coordinator.headers)).json()) == 20


BAD_BODIES = [
    ({"url": URL, "events": ["need.deleted"]}, ["body", "events", 0]),
    ({"url": URL, "events": []}, ["body", "events"]),
    ({"url": URL}, ["body", "events"]),
    ({"url": URL, "events": "need.created"}, ["body", "events"]),
    ({"events": ["need.created"]}, ["body", "url"]),
    ({"url": "ftp://hooks.example.org/x", "events": ["need.created"]}, ["body", "url"]),
    ({"url": "/relative/path", "events": ["need.created"]}, ["body", "url"]),
    ({"url": "hooks.example.org/x", "events": ["need.created"]}, ["body", "url"]),
    ({"url": "https://user:pw@hooks.example.org/x", "events": ["need.created"]}, ["body", "url"]),
    ({"url": "https://token@hooks.example.org/x", "events": ["need.created"]}, ["body", "url"]),
    ({"url": "https://hooks.example.org/" + "a" * 2000, "events": ["need.created"]}, ["body", "url"]),
    ({"url": URL, "events": ["need.created"], "secret": "whsec_mine"}, ["body", "secret"]),
]


@pytest.mark.parametrize(("body", "loc"), BAD_BODIES)
async def test_bad_bodies_are_422_and_change_nothing(
    client: httpx.AsyncClient, body: dict[str, object], loc: list[str | int]
) -> None:
    coordinator, org = await _org(client)
    problem = assert_problem(await client.post(_path(org), json=body, headers=coordinator.headers), 422)
    assert [e["loc"] for e in problem["errors"]] == [loc]
    assert (await client.get(_path(org), headers=coordinator.headers)).json() == []


PRIVATE_URLS = [
    "http://127.0.0.1/hook",
    "http://127.0.0.1:8000/hook",
    "http://localhost/hook",
    "http://LOCALHOST./hook",
    "http://api.localhost/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.1/hook",
    "http://100.64.0.1/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
    "http://255.255.255.255/hook",
    "http://2130706433/hook",
    "http://0x7f.1/hook",
    "http://[::1]/hook",
    "http://[::]/hook",
    "http://[fe80::1]/hook",
    "http://[fc00::1]/hook",
    "http://[ff02::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:a9fe:a9fe]/hook",
    "http://[2002:7f00:1::]/hook",
    "http://[64:ff9b::a00:1]/hook",
]


@pytest.mark.parametrize("url", PRIVATE_URLS)
async def test_private_targets_are_refused_at_subscription(client: httpx.AsyncClient, url: str) -> None:
    coordinator, org = await _org(client)
    r = await client.post(
        _path(org), json={"url": url, "events": ["need.created"]}, headers=coordinator.headers
    )
    problem = assert_problem(r, 422)
    assert problem["errors"] == [
        {
            "loc": ["body", "url"],
            "msg": "The URL names a private, loopback or otherwise non-public address.",
            "type": "rule",
        }
    ]
    assert (await client.get(_path(org), headers=coordinator.headers)).json() == []


async def test_the_setting_allows_private_targets(hook_client: httpx.AsyncClient) -> None:
    coordinator, org = await _org(hook_client)
    body = {"url": "http://127.0.0.1:9/hook", "events": ["need.created"]}
    r = await hook_client.post(_path(org), json=body, headers=coordinator.headers)
    assert r.status_code == 201, r.text
    assert r.json()["url"] == "http://127.0.0.1:9/hook"


async def test_unknown_ids_are_404(client: httpx.AsyncClient) -> None:
    coordinator, org = await _org(client)
    missing = uuid.uuid4()
    assert_problem(await client.get(_path(org, f"/{missing}"), headers=coordinator.headers), 404)
    assert_problem(await client.get(_path(str(missing)), headers=coordinator.headers), 404)
    assert_problem(await client.get(_path(org, "/not-a-uuid"), headers=coordinator.headers), 422)


async def test_the_openapi_document_describes_every_event_for_receivers(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert sorted(spec["webhooks"]) == sorted(ALL_EVENTS)
    for event, item in spec["webhooks"].items():
        post = item["post"]
        assert post["operationId"] == "webhook_" + event.replace(".", "_")
        headers = [p["name"] for p in post["parameters"]]
        assert headers == ["webhook-id", "webhook-timestamp", "webhook-signature"]
        assert post["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/EventPayload"
        }
    # Documentation only: no receiving route exists on the API itself.
    assert not any(path.startswith(("need.", "match.")) for path in spec["paths"])
