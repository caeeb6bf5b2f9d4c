"""Members: sign-up, login, profile, and the problem bodies of their failures."""

import httpx

from tests.factories import PASSWORD, assert_problem, member


async def test_sign_up_returns_private_view_without_password(client: httpx.AsyncClient) -> None:
    body = {
        "email": "Kim.Example@Example.org",
        "password": PASSWORD,
        "display_name": " Kim ",
        "phone": "+1 555 0100",
        "languages": ["es", "en", "es"],
    }
    r = await client.post("/v1/members", json=body)
    assert r.status_code == 201
    data = r.json()
    assert set(data) == {
        "id",
        "email",
        "display_name",
        "phone",
        "languages",
        "email_verified",
        "created_at",
        "updated_at",
    }
    assert data["email"] == "kim.example@example.org"
    assert data["display_name"] == "Kim"
    assert data["languages"] == ["es", "en"]
    assert PASSWORD not in r.text


async def test_languages_are_iso_codes_exactly_as_the_schema_lists_them(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]["MemberCreate"]
    codes = schema["properties"]["languages"]["items"]["enum"]
    assert len(codes) == 183
    assert {"en", "es", "zu"} <= set(codes)
    for spelling in ("EN", " en", "", "eng"):
        body = {
            "email": "lang@example.org",
            "password": PASSWORD,
            "display_name": "L",
            "languages": [spelling],
        }
        problem = assert_problem(await client.post("/v1/members", json=body), 422)
        assert [tuple(e["loc"]) for e in problem["errors"]] == [("body", "languages", 0)]


async def test_duplicate_email_is_409_problem(client: httpx.AsyncClient) -> None:
    await member(client, email="dup@example.org")
    r = await client.post(
        "/v1/members", json={"email": "DUP@example.org", "password": PASSWORD, "display_name": "Other"}
    )
    body = assert_problem(r, 409)
    assert body["detail"] == "An account with this email already exists."


async def test_invalid_sign_up_is_422_and_never_echoes_input(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/members",
        json={
            "email": "not-an-email",
            "password": "Pw3x!",
            "display_name": "",
            "languages": ["xx"],
            "role": "admin",
        },
    )
    body = assert_problem(r, 422)
    locs = {tuple(e["loc"]) for e in body["errors"]}
    assert locs == {
        ("body", "email"),
        ("body", "password"),
        ("body", "display_name"),
        ("body", "languages", 0),
        ("body", "role"),
    }
    assert "Pw3x!" not in r.text
    assert all(set(e) == {"loc", "msg", "type"} for e in body["errors"])
    count = await client.post("/v1/auth/token", data={"username": "not-an-email", "password": "Pw3x!"})
    assert count.status_code == 401


async def test_login_and_me(client: httpx.AsyncClient) -> None:
    m = await member(client, display_name="Robin")
    r = await client.get("/v1/members/me", headers=m.headers)
    assert r.status_code == 200
    assert r.json()["id"] == m.id
    assert r.json()["display_name"] == "Robin"


async def test_token_response_shape(client: httpx.AsyncClient) -> None:
    await member(client, email="shape@example.org")
    r = await client.post("/v1/auth/token", data={"username": "shape@example.org", "password": PASSWORD})
    assert r.status_code == 200
    data = r.json()
    assert set(data) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert data["token_type"] == "bearer"
    assert data["expires_in"] == 900
    assert data["refresh_token"].startswith("rt_")


async def test_grant_type_when_sent_is_password_even_empty(client: httpx.AsyncClient) -> None:
    """RFC 6749, section 4.3.2, and the form's own pattern: an empty `grant_type` is no password
    grant (FastAPI reads an empty form value as an absent one), so it is a 422 with no session."""
    await member(client, email="grant@example.org")
    login = {"username": "grant@example.org", "password": PASSWORD}
    for grant_type in ("", "client_credentials"):
        body = assert_problem(
            await client.post("/v1/auth/token", data={**login, "grant_type": grant_type}), 422
        )
        assert [e["loc"] for e in body["errors"]] == [["body", "grant_type"]]
        assert body["errors"][0]["type"] != "rule"
    for form in (login, {**login, "grant_type": "password"}):
        assert (await client.post("/v1/auth/token", data=form)).status_code == 200


async def test_wrong_password_and_unknown_email_are_the_same_401(client: httpx.AsyncClient) -> None:
    await member(client, email="known@example.org")
    wrong = await client.post(
        "/v1/auth/token", data={"username": "known@example.org", "password": "nope-nope"}
    )
    unknown = await client.post(
        "/v1/auth/token", data={"username": "who@example.org", "password": "nope-nope"}
    )
    for r in (wrong, unknown):
        body = assert_problem(r, 401)
        assert body["detail"] == "Incorrect email or password."
        assert r.headers["www-authenticate"] == "Bearer"


async def test_me_without_or_with_bad_token_is_401(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/members/me"), 401)
    r = await client.get("/v1/members/me", headers={"Authorization": "Bearer not.a.jwt"})
    assert (
        assert_problem(r, 401)["detail"] == "The access token is invalid, expired, or its session has ended."
    )


async def test_token_signed_with_another_secret_is_401(client: httpx.AsyncClient) -> None:
    import jwt

    forged = jwt.encode(
        {"sub": "00000000-0000-0000-0000-000000000000", "iat": 1, "exp": 4102444800, "typ": "member"},
        "some-other-secret-of-enough-length-000",
        algorithm="HS256",
    )
    assert_problem(await client.get("/v1/members/me", headers={"Authorization": f"Bearer {forged}"}), 401)


async def test_patch_me_updates_only_what_is_sent(client: httpx.AsyncClient) -> None:
    m = await member(client, display_name="Before", phone="+44 7700 900111")
    r = await client.patch("/v1/members/me", json={"display_name": "After"}, headers=m.headers)
    assert r.status_code == 200
    assert r.json()["display_name"] == "After"
    assert r.json()["phone"] == "+44 7700 900111"
    r = await client.patch("/v1/members/me", json={"phone": None}, headers=m.headers)
    assert r.json()["phone"] is None


async def test_patch_me_null_clears_only_what_may_be_empty(client: httpx.AsyncClient) -> None:
    m = await member(client, display_name="Kept", languages=["en"])
    for field in ("display_name", "languages"):
        r = await client.patch("/v1/members/me", json={field: None, "phone": None}, headers=m.headers)
        assert assert_problem(r, 422)["errors"] == [
            {
                "loc": ["body", field],
                "msg": f"{field} cannot be null; leave it out to keep it",
                "type": "null_forbidden",
            }
        ]
    me = (await client.get("/v1/members/me", headers=m.headers)).json()
    assert (me["display_name"], me["languages"], me["phone"]) == ("Kept", ["en"], m.data["phone"])


async def test_patch_me_rejects_unknown_and_null_fields_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    m = await member(client, display_name="Steady")
    for body in ({"email": "new@example.org"}, {"id": m.id}, {"display_name": None}, {"languages": ["zz"]}):
        assert_problem(await client.patch("/v1/members/me", json=body, headers=m.headers), 422)
    me = (await client.get("/v1/members/me", headers=m.headers)).json()
    assert me == m.data


async def test_nul_in_login_or_sign_up_is_a_clean_error(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/auth/token", data={"username": "a\x00@example.org", "password": "whatever1"})
    assert_problem(r, 401)
    r = await client.post(
        "/v1/members", json={"email": "nul@example.org", "password": PASSWORD, "display_name": "Nul\x00"}
    )
    assert_problem(r, 422)


async def test_email_is_the_bare_address_and_reserved_domains_break_a_rule(client: httpx.AsyncClient) -> None:
    def sign_up(email: str) -> dict[str, str]:
        return {"email": email, "password": PASSWORD, "display_name": "E"}

    for address in ("Kim <kim@example.org>", " kim@example.org", "kim@@example.org"):
        problem = assert_problem(await client.post("/v1/members", json=sign_up(address)), 422)
        assert [(e["loc"], e["type"]) for e in problem["errors"]] == [(["body", "email"], "value_error")]
    problem = assert_problem(await client.post("/v1/members", json=sign_up("kim@mail.test")), 422)
    assert problem["errors"] == [
        {
            "loc": ["body", "email"],
            "msg": "No mail can reach this address: The part after the @-sign is a special-use or "
            "reserved name that cannot be used with email.",
            "type": "rule",
        }
    ]
    # None of them signed anyone up.
    login = await client.post("/v1/auth/token", data={"username": "kim@example.org", "password": PASSWORD})
    assert login.status_code == 401
