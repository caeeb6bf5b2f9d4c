"""Sessions: rotating refresh tokens, reuse revoking the family, and revocation taking effect at once."""

from datetime import timedelta

import httpx
import jwt
import pytest

from app.core.timeutil import utcnow
from tests.factories import PASSWORD, assert_problem, member

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
SECRET = "test-secret-that-is-long-enough-0123456789"  # tests.conftest.make_settings


async def login(client: httpx.AsyncClient, email: str, agent: str = FIREFOX) -> dict[str, str]:
    r = await client.post(
        "/v1/auth/token", data={"username": email, "password": PASSWORD}, headers={"User-Agent": agent}
    )
    assert r.status_code == 200, r.text
    tokens: dict[str, str] = r.json()
    return tokens


def bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def test_refresh_rotates_and_the_new_pair_works(client: httpx.AsyncClient) -> None:
    m = await member(client)
    first = await login(client, m.data["email"])
    r = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["expires_in"] == 900
    me = await client.get("/v1/members/me", headers=bearer(second))
    assert me.status_code == 200
    assert me.json()["id"] == m.id
    # Same session: the old access token is still good until it expires.
    assert (await client.get("/v1/members/me", headers=bearer(first))).status_code == 200


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(client: httpx.AsyncClient) -> None:
    m = await member(client)
    first = await login(client, m.data["email"])
    second = (await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
    reuse = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert assert_problem(reuse, 401)["detail"].startswith("The refresh token is invalid")
    # Every token of the session is now refused: the latest refresh token and both access tokens.
    latest = await client.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert_problem(latest, 401)
    for tokens in (first, second):
        assert_problem(await client.get("/v1/members/me", headers=bearer(tokens)), 401)
    # Another session of the same member is untouched.
    other = await login(client, m.data["email"])
    assert (await client.get("/v1/members/me", headers=bearer(other))).status_code == 200


async def test_an_unknown_refresh_token_is_401(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post("/v1/auth/refresh", json={"refresh_token": "rt_made-up"}), 401)


async def test_logout_refuses_the_token_on_the_next_request(client: httpx.AsyncClient) -> None:
    m = await member(client)
    tokens = await login(client, m.data["email"])
    assert (await client.post("/v1/auth/logout", headers=bearer(tokens))).status_code == 204
    assert_problem(await client.get("/v1/members/me", headers=bearer(tokens)), 401)
    refreshed = await client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert_problem(refreshed, 401)
    # The factory's own session was another one: still live.
    assert (await client.get("/v1/members/me", headers=m.headers)).status_code == 200


async def test_sessions_list_is_coarse_and_marks_the_current_one(client: httpx.AsyncClient) -> None:
    m = await member(client)
    phone = await login(client, m.data["email"], IPHONE)
    laptop = await login(client, m.data["email"], FIREFOX)
    r = await client.get("/v1/members/me/sessions", headers=bearer(laptop))
    assert r.status_code == 200
    items = r.json()["items"]
    assert len(items) == 3  # the factory's login, the phone, the laptop
    assert set(items[0]) == {"id", "created_at", "last_used_at", "user_agent", "current"}
    by_agent = {i["user_agent"]: i for i in items}
    assert by_agent["Firefox on Linux"]["current"] is True
    assert by_agent["Safari on iOS"]["current"] is False
    assert sum(i["current"] for i in items) == 1
    assert "Mozilla" not in r.text
    page = await client.get("/v1/members/me/sessions?limit=2", headers=bearer(phone))
    rest = await client.get(
        f"/v1/members/me/sessions?limit=2&cursor={page.json()['next_cursor']}", headers=bearer(phone)
    )
    ids = [i["id"] for i in page.json()["items"] + rest.json()["items"]]
    assert sorted(ids) == sorted(i["id"] for i in items)
    assert rest.json()["next_cursor"] is None


async def test_deleting_a_session_refuses_its_token_on_the_next_request(client: httpx.AsyncClient) -> None:
    m = await member(client)
    lost_phone = await login(client, m.data["email"], IPHONE)
    laptop = await login(client, m.data["email"], FIREFOX)
    listed = (await client.get("/v1/members/me/sessions", headers=bearer(laptop))).json()["items"]
    phone_id = next(i["id"] for i in listed if i["user_agent"] == "Safari on iOS")
    r = await client.delete(f"/v1/members/me/sessions/{phone_id}", headers=bearer(laptop))
    assert r.status_code == 204
    assert_problem(await client.get("/v1/members/me", headers=bearer(lost_phone)), 401)
    assert (await client.get("/v1/members/me", headers=bearer(laptop))).status_code == 200
    # Gone from the list; deleting it again, or someone else's, is 404.
    again = await client.delete(f"/v1/members/me/sessions/{phone_id}", headers=bearer(laptop))
    assert_problem(again, 404)


async def test_another_members_session_is_404_and_survives(client: httpx.AsyncClient) -> None:
    owner, stranger = await member(client), await member(client)
    tokens = await login(client, owner.data["email"])
    listed = (await client.get("/v1/members/me/sessions", headers=bearer(tokens))).json()["items"]
    mine = next(i["id"] for i in listed if i["current"])
    assert_problem(await client.delete(f"/v1/members/me/sessions/{mine}", headers=stranger.headers), 404)
    assert (await client.get("/v1/members/me", headers=bearer(tokens))).status_code == 200


async def test_a_token_without_a_session_id_is_refused(client: httpx.AsyncClient) -> None:
    """Tokens from before sessions existed carry no `sid`: nothing could revoke them."""
    m = await member(client)
    now = utcnow()
    claims = {"sub": m.id, "iat": now, "exp": now + timedelta(minutes=10), "typ": "member"}
    old = jwt.encode(claims, SECRET, algorithm="HS256")
    r = await client.get("/v1/members/me", headers={"Authorization": f"Bearer {old}"})
    assert_problem(r, 401)


@pytest.mark.parametrize(
    ("raw", "coarse"),
    [
        (FIREFOX, "Firefox on Linux"),
        (IPHONE, "Safari on iOS"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        ("python-httpx/0.27.0", "Unknown client"),
        (None, "Unknown client"),
    ],
)
def test_user_agents_are_reduced_to_family_and_system(raw: str | None, coarse: str) -> None:
    from app.members.sessions import coarse_user_agent

    assert coarse_user_agent(raw) == coarse
