"""Idempotency-Key over HTTP: replay, mismatch, scope, what is kept and what is released."""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import OperationalError
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import Unavailable
from tests.factories import ALL_SCOPES, api_key, assert_problem, member, need_body, organization
from tests.idempotency.helpers import count_rows, encoded, expire_all, key_rows, keyed

KEY = "0b6e3c52-8f1d-4f4e-9d2a-5a7c1e9b3f10"
REPLAYED = "idempotent-replayed"


async def _my_needs(client: httpx.AsyncClient, who_headers: dict[str, str]) -> list[str]:
    listed = await client.get("/v1/needs", params={"limit": 100}, headers=who_headers)
    return [n["id"] for n in listed.json()["items"] if n["view"] == "owner"]


async def test_a_repeat_gets_the_first_response_byte_for_byte(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    a = await member(client)
    body = encoded(need_body(title="Milk and bread"))
    first = await client.post("/v1/needs", content=body, headers=keyed(a, KEY))
    again = await client.post("/v1/needs", content=body, headers=keyed(a, KEY))
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert again.content == first.content
    assert REPLAYED not in first.headers
    assert again.headers[REPLAYED] == "true"
    for header in ("location", "etag", "content-type"):
        assert again.headers[header] == first.headers[header]
    assert first.headers["location"] == f"/v1/needs/{first.json()['id']}"
    assert await _my_needs(client, a.headers) == [first.json()["id"]]
    assert await count_rows(application, "idempotency_keys") == 1


async def test_the_same_key_with_another_request_is_422_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    a = await member(client)
    created = await client.post("/v1/needs", content=encoded(need_body()), headers=keyed(a, KEY))
    assert created.status_code == 201
    other_body = await client.post(
        "/v1/needs", content=encoded(need_body(title="Something else")), headers=keyed(a, KEY)
    )
    other_path = await client.post(
        "/v1/offers", content=encoded({"categories": ["meals"], "modes": ["remote"]}), headers=keyed(a, KEY)
    )
    other_query = await client.post("/v1/needs?x=1", content=encoded(need_body()), headers=keyed(a, KEY))
    for response in (other_body, other_path, other_query):
        problem = assert_problem(response, 422)
        assert problem["type"] == "https://mutual-aid.example/problems/idempotency-key-reused"
        assert problem["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert await _my_needs(client, a.headers) == [created.json()["id"]]
    offers = await client.get("/v1/offers", headers=a.headers)
    assert offers.json()["items"] == []


async def test_another_caller_with_the_same_key_is_independent(client: httpx.AsyncClient) -> None:
    a, b = await member(client), await member(client)
    org = (await organization(client, a))["id"]
    key = await api_key(client, a, org, ALL_SCOPES)
    body = encoded(need_body(title="Same body, same key"))
    as_key = {**key["headers"], "Idempotency-Key": KEY, "Content-Type": "application/json"}
    responses = [
        await client.post("/v1/needs", content=body, headers=keyed(a, KEY)),
        await client.post("/v1/needs", content=body, headers=keyed(b, KEY)),
        await client.post("/v1/needs", content=body, headers=as_key),
    ]
    assert [r.status_code for r in responses] == [201, 201, 201]
    assert all(REPLAYED not in r.headers for r in responses)
    assert len({r.json()["id"] for r in responses}) == 3
    # Each caller's own repeat replays its own response, never another's.
    for headers, original in zip((keyed(a, KEY), keyed(b, KEY), as_key), responses, strict=True):
        repeat = await client.post("/v1/needs", content=body, headers=headers)
        assert (repeat.content, repeat.headers[REPLAYED]) == (original.content, "true")


async def test_a_5xx_releases_the_key(
    client: httpx.AsyncClient, application: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = await member(client)
    body = encoded(need_body())
    from app.needs import service

    real = service.create_need

    async def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the disk is on fire")

    async def unavailable(*args: object, **kwargs: object) -> None:
        raise Unavailable("The database is unavailable; try again shortly.")

    for failure, status in ((crash, 500), (unavailable, 503)):
        monkeypatch.setattr(service, "create_need", failure)
        assert_problem(await client.post("/v1/needs", content=body, headers=keyed(a, KEY)), status)
        assert await count_rows(application, "idempotency_keys") == 0
    monkeypatch.setattr(service, "create_need", real)
    retried = await client.post("/v1/needs", content=body, headers=keyed(a, KEY))
    assert retried.status_code == 201
    assert REPLAYED not in retried.headers
    assert await _my_needs(client, a.headers) == [retried.json()["id"]]


@pytest.mark.parametrize(
    ("failure", "status"),
    [(RuntimeError("the answer was lost"), 500), (Unavailable("The database went away."), 503)],
)
async def test_a_failure_while_building_the_answer_undoes_the_change_and_frees_the_key(
    client: httpx.AsyncClient,
    application: FastAPI,
    monkeypatch: pytest.MonkeyPatch,
    failure: Exception,
    status: int,
) -> None:
    """The need is written, then building the answer fails: the request's one transaction is
    rolled back, so nothing was saved and the retry runs (and saves it) once."""
    from app.needs import router

    a = await member(client)
    body = encoded(need_body())

    def lost(*args: object, **kwargs: object) -> None:
        raise failure

    monkeypatch.setattr(router, "render_written", lost)
    assert_problem(await client.post("/v1/needs", content=body, headers=keyed(a, KEY)), status)
    assert await _my_needs(client, a.headers) == []
    assert await count_rows(application, "idempotency_keys") == 0
    monkeypatch.undo()
    retried = await client.post("/v1/needs", content=body, headers=keyed(a, KEY))
    assert retried.status_code == 201
    assert REPLAYED not in retried.headers
    assert await _my_needs(client, a.headers) == [retried.json()["id"]]


class _LostAfterCommit(AsyncSession):
    failure: Exception = RuntimeError("the connection could not be given back")

    async def close(self) -> None:
        await super().close()
        raise self.failure


@pytest.mark.parametrize(
    ("failure", "status"),
    [
        (RuntimeError("the answer was lost"), 500),
        (OperationalError("ROLLBACK", {}, Exception("terminating connection")), 503),
    ],
)
async def test_a_failure_after_the_change_committed_keeps_the_answer(
    client: httpx.AsyncClient, application: FastAPI, failure: Exception, status: int
) -> None:
    """The need is committed, then releasing the connection fails before the answer leaves: a
    retry must not save it again."""
    a = await member(client)
    body = encoded(need_body())
    maker = application.state.sessionmaker

    class Failing(_LostAfterCommit):
        pass

    Failing.failure = failure
    application.state.sessionmaker = lambda: Failing(bind=maker.kw["bind"], expire_on_commit=False)
    first = await client.post("/v1/needs", content=body, headers=keyed(a, KEY))
    assert_problem(first, status)
    application.state.sessionmaker = maker
    for _ in range(2):
        again = await client.post("/v1/needs", content=body, headers=keyed(a, KEY))
        assert (again.status_code, again.headers[REPLAYED]) == (status, "true")
        assert again.headers["content-type"] == "application/problem+json"
        assert again.content == first.content
    assert len(await _my_needs(client, a.headers)) == 1


async def test_a_refused_body_is_not_kept_so_a_corrected_one_may_use_the_key(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    a = await member(client)
    bad = await client.post("/v1/needs", content=encoded({"title": "No category"}), headers=keyed(a, KEY))
    assert_problem(bad, 422)
    assert await count_rows(application, "idempotency_keys") == 0
    good = await client.post("/v1/needs", content=encoded(need_body()), headers=keyed(a, KEY))
    assert (good.status_code, REPLAYED in good.headers) == (201, False)


async def test_other_client_errors_are_kept_and_replayed(client: httpx.AsyncClient) -> None:
    a = await member(client)
    body = encoded(
        {
            "need_id": "5b1f3c1e-1d5e-4a63-9b7a-1f0e2d3c4b5a",
            "offer_id": "0c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f",
        }
    )
    first = await client.post("/v1/matches", content=body, headers=keyed(a, KEY))
    again = await client.post("/v1/matches", content=body, headers=keyed(a, KEY))
    assert_problem(first, 404)
    assert_problem(again, 404)
    assert again.content == first.content
    assert again.headers[REPLAYED] == "true"


async def test_an_expired_key_is_new_and_expired_keys_are_purged(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    a = await member(client)
    body = encoded(need_body())
    first = await client.post("/v1/needs", content=body, headers=keyed(a, KEY))
    other = await client.post("/v1/needs", content=encoded(need_body()), headers=keyed(a, "another-key"))
    assert (first.status_code, other.status_code) == (201, 201)
    await expire_all(application)
    application.state.idempotency_next_purge = 0.0  # the next keyed POST purges
    fresh = await client.post("/v1/needs", content=body, headers=keyed(a, KEY))
    assert (fresh.status_code, REPLAYED in fresh.headers) == (201, False)
    assert fresh.json()["id"] != first.json()["id"]
    rows = await key_rows(application)
    assert [(r.status_code, r.locked_at) for r in rows] == [(201, None)]
    assert sorted(await _my_needs(client, a.headers)) == sorted(
        [first.json()["id"], other.json()["id"], fresh.json()["id"]]
    )


@pytest.mark.parametrize(
    "value",
    [b"", b"x" * 256, "naïve".encode(), b"tab\there", b"bell\x07"],
    ids=["empty", "too-long", "not-ascii", "tab", "control"],
)
async def test_a_malformed_key_is_422_and_changes_nothing(
    client: httpx.AsyncClient, application: FastAPI, value: bytes
) -> None:
    a = await member(client)
    headers = [(k.encode(), v.encode()) for k, v in a.headers.items()] + [(b"Idempotency-Key", value)]
    problem = assert_problem(await client.post("/v1/needs", json=need_body(), headers=headers), 422)
    assert problem["errors"] == [
        {
            "loc": ["header", "Idempotency-Key"],
            "msg": "Idempotency-Key must be 1 to 255 printable ASCII characters.",
            "type": "rule",
        }
    ]
    assert await _my_needs(client, a.headers) == []
    assert await count_rows(application, "idempotency_keys") == 0


async def test_two_keys_on_one_request_are_422(client: httpx.AsyncClient) -> None:
    a = await member(client)
    headers = [*a.headers.items(), ("Idempotency-Key", "one"), ("Idempotency-Key", "two")]
    problem = assert_problem(await client.post("/v1/needs", json=need_body(), headers=headers), 422)
    assert problem["detail"] == "Send one Idempotency-Key header, not several."
    assert await _my_needs(client, a.headers) == []


async def test_the_longest_key_is_accepted(client: httpx.AsyncClient) -> None:
    a = await member(client)
    key, body = "k" * 254 + "~", encoded(need_body())
    first = await client.post("/v1/needs", content=body, headers=keyed(a, key))
    again = await client.post("/v1/needs", content=body, headers=keyed(a, key))
    assert (first.status_code, again.status_code) == (201, 201)
    assert (again.content, again.headers[REPLAYED]) == (first.content, "true")


async def test_posts_of_every_router_replay(client: httpx.AsyncClient) -> None:
    """The dependency sits on the /v1 router: organisations, offers, need steps and matching
    runs replay like needs do, with nothing declared on their routes."""
    c = await member(client)
    org = (await organization(client, c))["id"]
    need = (await client.post("/v1/needs", json=need_body(), headers=c.headers)).json()["id"]
    calls: list[tuple[str, dict[str, Any] | None]] = [
        ("/v1/organizations", {"name": "Riverside Pantry"}),
        (
            "/v1/offers",
            {"categories": ["meals"], "modes": ["remote"], "location": {"lat": 51.5, "lon": -0.1}},
        ),
        (f"/v1/needs/{need}/cancel", None),
        ("/v1/matching/runs", {"organization_id": org, "dry_run": True}),
    ]
    for number, (path, payload) in enumerate(calls):
        body = b"" if payload is None else encoded(payload)
        key = f"router-{number}"
        first = await client.post(path, content=body, headers=keyed(c, key))
        again = await client.post(path, content=body, headers=keyed(c, key))
        assert first.status_code in (200, 201), first.text
        assert (again.status_code, again.headers[REPLAYED]) == (first.status_code, "true")
        assert again.content == first.content  # a run's elapsed_ms too: the stored answer, not a new run
