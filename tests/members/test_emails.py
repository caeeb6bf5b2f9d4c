"""Every way to write one address is one account: at sign-up, at login, and for accounts that
shared an address before addresses were compared in canonical form (migration 0008)."""

import unicodedata
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.security import hash_password
from app.members.models import Member, canonical_email
from tests.factories import PASSWORD, assert_problem

COMPOSED = "ren\u00e9e@example.org"
# One address, five ways: decomposed accent, capitals, a full-width domain, and an IDNA domain
# written as Unicode and as its `xn--` form.
FORMS = [
    ("Rene\u0301e@example.org", COMPOSED),
    ("REN\u00c9E@EXAMPLE.ORG", COMPOSED),
    ("ren\u00e9e@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.org", COMPOSED),
    ("kim@B\u00fccher.example.org", "kim@b\u00fccher.example.org"),
    ("Kim@xn--bcher-kva.example.org", "kim@b\u00fccher.example.org"),
]


@pytest.mark.parametrize(("written", "canonical"), FORMS)
async def test_a_second_form_is_409_and_every_form_logs_in(
    client: httpx.AsyncClient, written: str, canonical: str
) -> None:
    first = await client.post(
        "/v1/members", json={"email": canonical, "password": PASSWORD, "display_name": "Ren\u00e9e"}
    )
    assert first.status_code == 201, first.text
    assert first.json()["email"] == canonical
    second = await client.post(
        "/v1/members", json={"email": written, "password": PASSWORD, "display_name": "Ren\u00e9e again"}
    )
    assert_problem(second, 409)
    for form in (written, canonical):
        token = await client.post("/v1/auth/token", data={"username": form, "password": PASSWORD})
        assert token.status_code == 200, (form, token.text)
        me = await client.get(
            "/v1/members/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"}
        )
        assert me.json()["id"] == first.json()["id"]


letters = st.text(
    alphabet=st.sampled_from("abcdeEIOUu\u00e9\u00c9\u0301\u00df.-_+0"), min_size=1, max_size=12
)


@settings(max_examples=300, deadline=None)
@given(letters)
def test_canonical_form_is_stable_and_ignores_case_and_normalisation(local: str) -> None:
    address = f"{local}@example.org"
    canonical = canonical_email(address)
    assert canonical_email(canonical) == canonical
    variants = [unicodedata.normalize("NFD", address), unicodedata.normalize("NFC", address)]
    if address.upper().lower() == address.lower():  # not so for "ß", whose capital is "SS"
        variants.append(address.upper())
    for variant in variants:
        assert canonical_email(variant) == canonical


async def test_the_newer_of_two_old_accounts_is_told_why_it_cannot_log_in(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    """As migration 0008 leaves them: the older keeps the address; the newer is flagged."""
    older = await client.post(
        "/v1/members", json={"email": COMPOSED, "password": PASSWORD, "display_name": "Ren\u00e9e"}
    )
    newer_id = uuid.uuid4()
    async with application.state.sessionmaker() as session:
        session.add(
            Member(
                id=newer_id,
                email=f"DUPLICATE-{newer_id.hex}@merge.invalid",
                email_as_written="rene\u0301e@example.org",
                duplicate_of=uuid.UUID(older.json()["id"]),
                password_hash=await hash_password("the newer one's password"),
                display_name="Ren\u00e9e",
                created_at=datetime(2025, 1, 1, tzinfo=UTC),
            )
        )
        await session.commit()
    told = await client.post(
        "/v1/auth/token", data={"username": "rene\u0301e@example.org", "password": "the newer one's password"}
    )
    assert "two accounts" in assert_problem(told, 401)["detail"]
    wrong = await client.post("/v1/auth/token", data={"username": COMPOSED, "password": "neither password"})
    assert assert_problem(wrong, 401)["detail"] == "Incorrect email or password."
    for username in (f"DUPLICATE-{newer_id.hex}@merge.invalid", f"duplicate-{newer_id.hex}@merge.invalid"):
        placeholder = await client.post(
            "/v1/auth/token", data={"username": username, "password": "the newer one's password"}
        )
        assert_problem(placeholder, 401)
    ok = await client.post(
        "/v1/auth/token", data={"username": "RENE\u0301E@example.org", "password": PASSWORD}
    )
    assert ok.status_code == 200
