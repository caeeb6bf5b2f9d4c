"""Changing a password, and what a new password must be (at sign-up too)."""

import httpx
import pytest

from tests.factories import PASSWORD, assert_problem, member
from tests.members.test_sessions import bearer, login

NEW = "a brand new passphrase"


async def test_changing_the_password_refuses_tokens_issued_before_it(client: httpx.AsyncClient) -> None:
    m = await member(client)
    elsewhere = await login(client, m.data["email"])
    here = await login(client, m.data["email"])
    body = {"current_password": PASSWORD, "new_password": NEW}
    r = await client.post("/v1/members/me/password", json=body, headers=bearer(here))
    assert r.status_code == 204, r.text
    # Every other session ends, its refresh token too; this one goes on.
    assert_problem(await client.get("/v1/members/me", headers=bearer(elsewhere)), 401)
    assert_problem(await client.get("/v1/members/me", headers=m.headers), 401)
    assert_problem(
        await client.post("/v1/auth/refresh", json={"refresh_token": elsewhere["refresh_token"]}), 401
    )
    assert (await client.get("/v1/members/me", headers=bearer(here))).status_code == 200
    old = await client.post("/v1/auth/token", data={"username": m.data["email"], "password": PASSWORD})
    assert_problem(old, 401)
    new = await client.post("/v1/auth/token", data={"username": m.data["email"], "password": NEW})
    assert new.status_code == 200


async def test_a_wrong_current_password_is_403_and_changes_nothing(client: httpx.AsyncClient) -> None:
    m = await member(client)
    other = await login(client, m.data["email"])
    body = {"current_password": "not my password", "new_password": NEW}
    r = await client.post("/v1/members/me/password", json=body, headers=m.headers)
    assert assert_problem(r, 403)["detail"] == "The current password is not correct."
    assert (await client.get("/v1/members/me", headers=bearer(other))).status_code == 200


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("          ", "The password is blank."),
        ("short1234", "The password is too short: use at least 10 characters."),
        ("1234567890", "among the 10,000 most common"),
        ("Password123", "among the 10,000 most common"),
        ("qwertyuiop", "among the 10,000 most common"),
    ],
)
async def test_weak_new_passwords_are_422_saying_why(
    client: httpx.AsyncClient, password: str, why: str
) -> None:
    m = await member(client)
    body = {"current_password": PASSWORD, "new_password": password}
    r = await client.post("/v1/members/me/password", json=body, headers=m.headers)
    problem = assert_problem(r, 422)
    assert why in problem["detail"]
    assert problem["errors"][0]["loc"] == ["body", "new_password"]
    assert (await client.get("/v1/members/me", headers=m.headers)).status_code == 200


@pytest.mark.parametrize("password", ["password123", "          ", "1q2w3e4r5t"])
async def test_sign_up_refuses_weak_passwords_too(client: httpx.AsyncClient, password: str) -> None:
    body = {"email": "weak@example.org", "password": password, "display_name": "Weak"}
    problem = assert_problem(await client.post("/v1/members", json=body), 422)
    assert problem["errors"][0]["loc"] == ["body", "password"]
    login = await client.post("/v1/auth/token", data={"username": "weak@example.org", "password": password})
    assert_problem(login, 401)  # no account was made


def test_the_common_list_holds_ten_thousand_lowercase_entries() -> None:
    from app.members.passwords import common_passwords

    common = common_passwords()
    assert len(common) == 10_000
    assert {"123456", "password", "qwerty", "iloveyou"} <= common


def test_the_shipped_common_list_is_zxcvbns_first_ten_thousand() -> None:
    from app.members.passwords import COMMON_FILE, common_passwords, zxcvbn_common

    assert COMMON_FILE.read_text(encoding="ascii").splitlines() == zxcvbn_common()
    assert len(common_passwords()) == 10_000
