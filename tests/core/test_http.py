"""HTTP hygiene: media types (415), body size (413, before the body is read), form limits (422),
caching and sniffing headers, and errors that say what shape is wanted."""

import json

import httpx
from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from app.core.http import MAX_BODY_BYTES, LimitBodies
from tests.factories import PASSWORD, assert_problem, member, need_body


async def test_json_under_another_media_type_is_415_and_any_json_type_is_fine(
    client: httpx.AsyncClient,
) -> None:
    who = await member(client)
    body = json.dumps(need_body())
    for media_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml", None):
        headers = {**who.headers, **({"Content-Type": media_type} if media_type else {})}
        r = await client.post("/v1/needs", content=body, headers=headers)
        problem = assert_problem(r, 415)
        assert "application/json" in problem["detail"]
    assert (await client.get("/v1/needs", headers=who.headers)).json()["items"] == []
    for media_type in ("application/json", "application/json; charset=utf-8", "application/merge-patch+json"):
        r = await client.post("/v1/needs", content=body, headers={**who.headers, "Content-Type": media_type})
        assert r.status_code == 201, (media_type, r.text)
    malformed = await client.post(
        "/v1/needs", content=b'{"title": ', headers={**who.headers, "Content-Type": "application/json"}
    )
    assert assert_problem(malformed, 422)["errors"][0]["type"] == "json_invalid"


async def test_json_sent_to_the_form_login_is_415_naming_the_form_type(client: httpx.AsyncClient) -> None:
    who = await member(client)
    r = await client.post("/v1/auth/token", json={"username": who.data["email"], "password": PASSWORD})
    assert "application/x-www-form-urlencoded" in assert_problem(r, 415)["detail"]


async def test_a_form_over_the_parsers_limits_is_422(client: httpx.AsyncClient) -> None:
    fields = "&".join(f"f{i}=x" for i in range(1500))
    r = await client.post(
        "/v1/auth/token",
        content=f"username=a@example.org&password=secret12&{fields}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    problem = assert_problem(r, 422)
    assert problem["errors"][0]["loc"] == ["body"]
    assert "fields" in problem["errors"][0]["msg"]


async def _call(
    app: FastAPI, headers: list[tuple[bytes, bytes]], chunks: list[bytes]
) -> tuple[int, dict, int]:
    """The app straight over ASGI: (status, problem body, how many chunks it read)."""
    read = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal read
        read += 1
        if read > len(chunks):
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/members",
        "raw_path": b"/v1/members",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test"), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 1234),
        "server": ("test", 80),
        "state": {},
    }
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert dict(start["headers"])[b"content-type"] == b"application/problem+json"
    return start["status"], json.loads(body), read


async def test_a_body_declared_too_large_is_413_before_a_byte_is_read(application: FastAPI) -> None:
    fifty_mb = str(50 * 1024 * 1024).encode()
    status, problem, read = await _call(application, [(b"content-length", fifty_mb)], [b"x" * 65536] * 800)
    assert (status, problem["status"], read) == (413, 413, 0)


async def test_a_streamed_body_is_cut_off_once_it_passes_the_limit(application: FastAPI) -> None:
    chunk = b" " * 65536
    chunks = [chunk] * 800  # 50 MiB, chunked: no Content-Length
    status, problem, read = await _call(application, [(b"transfer-encoding", b"chunked")], chunks)
    assert (status, problem["status"]) == (413, 413)
    assert read == MAX_BODY_BYTES // len(chunk) + 1  # not one chunk past the limit


async def test_private_answers_are_not_stored_and_nothing_is_sniffed(client: httpx.AsyncClient) -> None:
    who = await member(client)
    token = await client.post("/v1/auth/token", data={"username": who.data["email"], "password": PASSWORD})
    need = await client.post("/v1/needs", json=need_body(), headers=who.headers)
    signed_up = await client.post(
        "/v1/members",
        json={"email": "fresh.signup@example.org", "password": PASSWORD, "display_name": "Fresh Example"},
    )
    assert signed_up.status_code == 201, signed_up.text
    private = [
        signed_up,
        token,
        need,
        await client.get(f"/v1/needs/{need.json()['id']}", headers=who.headers),
        await client.get("/v1/members/me", headers=who.headers),
        await client.get("/v1/members/me/audit", headers=who.headers),
    ]
    for r in private:
        assert r.headers["cache-control"] == "no-store", r.url
    public = await client.get(f"/v1/needs/{need.json()['id']}")
    assert public.status_code == 200
    assert "no-store" not in public.headers.get("cache-control", "")
    for r in (*private, public, await client.get("/healthz"), await client.get("/v1/nowhere")):
        assert r.headers["x-content-type-options"] == "nosniff", r.url


async def test_a_bad_near_says_what_shape_is_wanted(client: httpx.AsyncClient) -> None:
    for near in ("abc", "51.5", "51.5;-0.12", "51.5, -0.12"):
        problem = assert_problem(await client.get("/v1/needs", params={"near": near}), 422)
        assert problem["errors"] == [
            {
                "loc": ["query", "near"],
                "msg": "near must be lat,lon in decimal degrees, e.g. 51.5,-0.12.",
                "type": "string_pattern_mismatch",
            }
        ]


async def test_operations_with_a_body_declare_413_and_415(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    with_body = [
        (path, method, op)
        for path, ops in document["paths"].items()
        for method, op in ops.items()
        if "requestBody" in op
    ]
    assert len(with_body) > 10
    for path, method, op in with_body:
        assert {"413", "415"} <= set(op["responses"]), (method, path)
        assert "application/problem+json" in op["responses"]["415"]["content"]


async def test_an_answer_built_after_the_body_was_cut_off_becomes_the_413() -> None:
    """An app that swallows the cut-off and answers anyway (here a 500) is overruled: the caller
    gets the 413 problem, never that answer."""

    async def swallowing(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            while (await receive()).get("more_body"):
                pass
        except Exception:
            await send({"type": "http.response.start", "status": 500, "headers": []})
            await send({"type": "http.response.body", "body": b"oops"})

    sent: list[Message] = []
    chunks = iter([b"x" * (MAX_BODY_BYTES // 2 + 1)] * 3)

    async def receive() -> Message:
        return {"type": "http.request", "body": next(chunks), "more_body": True}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/needs", "headers": []}
    await LimitBodies(swallowing)(scope, receive, send)
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["status"] == 413
