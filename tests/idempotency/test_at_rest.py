"""What is kept for a key is unreadable without it; what must never be kept is not."""

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlmodel import SQLModel

from app.idempotency.sealing import Unreadable, derive, fingerprint, seal, server_pepper, unseal
from tests.factories import PASSWORD, assert_problem, member, need_body, organization
from tests.idempotency.helpers import count_rows, encoded, keyed

KEY = "c0ffee00-1d5e-4a63-9b7a-1f0e2d3c4b5a"
REPLAYED = "idempotent-replayed"


async def _dump(app: FastAPI) -> str:
    values: list[str] = []
    async with app.state.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            rows = (await conn.execute(text(f"SELECT * FROM {table.name}"))).all()
            values.extend(str(value) for row in rows for value in row)
    return "\n".join(values)


async def test_a_replayed_api_key_secret_is_never_at_rest(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    c = await member(client)
    org = (await organization(client, c))["id"]
    body = encoded({"name": "Partner system", "scopes": ["needs:read"]})
    url = f"/v1/organizations/{org}/api-keys"
    created = await client.post(url, content=body, headers=keyed(c, KEY))
    again = await client.post(url, content=body, headers=keyed(c, KEY))
    assert created.status_code == 201
    assert (again.content, again.headers[REPLAYED]) == (created.content, "true")
    secret = created.json()["key"]
    dump = await _dump(application)
    for never in (secret, secret[11:], KEY, PASSWORD, created.text):
        assert never not in dump
    # The replayed secret still works: it was sealed, not lost.
    assert (await client.get("/v1/needs", headers={"Authorization": f"Bearer {secret}"})).status_code == 200


async def test_a_kept_response_shows_nothing_of_its_body(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    a = await member(client)
    address = "Flat 12, Sealed Street"
    created = await client.post(
        "/v1/needs", content=encoded(need_body(address=address)), headers=keyed(a, KEY)
    )
    assert created.status_code == 201
    async with application.state.engine.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM idempotency_keys"))).one()
    kept = " ".join(str(value) for value in row)
    for private in (address, "Alex Example", "+44 20 7946 0123", created.json()["id"], KEY):
        assert private not in kept
    assert KEY.encode() not in row.response
    assert b"Sealed Street" not in row.response


async def test_anonymous_calls_run_as_usual_and_are_never_kept(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    body = encoded({"email": "anon.signup@example.org", "password": PASSWORD, "display_name": "Sam Example"})
    headers = {"Idempotency-Key": KEY, "Content-Type": "application/json"}
    first = await client.post("/v1/members", content=body, headers=headers)
    again = await client.post("/v1/members", content=body, headers=headers)
    assert first.status_code == 201
    assert_problem(again, 409)  # the email is taken: a retried sign-up changes nothing
    assert REPLAYED not in again.headers
    # A login never keeps its response, even for a caller who is signed in: it is a credential.
    login = {"username": "anon.signup@example.org", "password": PASSWORD}
    token = (await client.post("/v1/auth/token", data=login)).json()["access_token"]
    signed_in = {"Authorization": f"Bearer {token}", "Idempotency-Key": KEY}
    for _ in range(2):
        r = await client.post("/v1/auth/token", data=login, headers=signed_in)
        assert (r.status_code, REPLAYED in r.headers) == (200, False)
    assert await count_rows(application, "idempotency_keys") == 0
    # A malformed key is refused whoever sends it.
    assert_problem(
        await client.post("/v1/members", content=body, headers={**headers, "Idempotency-Key": ""}), 422
    )


def test_a_sealed_response_opens_only_with_its_key_row_and_status() -> None:
    pepper = server_pepper("a-server-secret-that-is-long-enough-000")
    mine = derive(pepper, scope="member:1", key=KEY)
    blob = seal(mine, status_code=201, headers=[("location", "/v1/needs/1")], body=b'{"key":"ma_secret"}')
    assert b"ma_secret" not in blob
    assert unseal(mine, status_code=201, blob=blob) == ([("location", "/v1/needs/1")], b'{"key":"ma_secret"}')
    others = [
        derive(pepper, scope="member:2", key=KEY),  # another caller
        derive(pepper, scope="member:1", key=KEY + "x"),  # another key
        derive(server_pepper("another-server-secret-long-enough-0000"), scope="member:1", key=KEY),
    ]
    for material in others:
        assert material.key_hash != mine.key_hash
        with pytest.raises(Unreadable):
            unseal(material, status_code=201, blob=blob)
    with pytest.raises(Unreadable):
        unseal(mine, status_code=200, blob=blob)  # the status is bound to the ciphertext
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(Unreadable):
        unseal(mine, status_code=201, blob=tampered)


def test_fingerprints_tell_apart_requests_that_concatenate_alike() -> None:
    material = derive(server_pepper("a-server-secret-that-is-long-enough-000"), scope="member:1", key=KEY)
    prints = {
        fingerprint(material, method="POST", path="/v1/needs", query=b"", body=b"{}"),
        fingerprint(material, method="POST", path="/v1/needs", query=b"{}", body=b""),
        fingerprint(material, method="POST", path="/v1/needs{}", query=b"", body=b""),
        fingerprint(material, method="POST", path="/v1/needs", query=b"", body=b"{} "),
    }
    assert len(prints) == 4
    assert fingerprint(material, method="POST", path="/v1/needs", query=b"", body=b"{}") in prints


async def test_a_replayed_webhook_secret_is_kept_only_sealed(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    c = await member(client)
    org = (await organization(client, c))["id"]
    body = encoded({"url": "https://hooks.example.org/mutual-aid", "events": ["need.created"]})
    url = f"/v1/organizations/{org}/webhooks"
    created = await client.post(url, content=body, headers=keyed(c, KEY))
    again = await client.post(url, content=body, headers=keyed(c, KEY))
    assert created.status_code == 201
    assert (again.content, again.headers[REPLAYED]) == (created.content, "true")
    secret = created.json()["secret"]
    async with application.state.engine.connect() as conn:
        kept = (await conn.execute(text("SELECT * FROM idempotency_keys"))).one()
        endpoints = (await conn.execute(text("SELECT count(*) FROM webhook_endpoints"))).scalar_one()
    assert endpoints == 1
    assert secret not in " ".join(str(value) for value in kept)
    assert secret.encode() not in kept.response
