"""Changing the account's address: the password first, a link to the new address through a real
SMTP server, the old address told, and nothing changes until the link is followed."""

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import col, select

from app.core.timeutil import utcnow
from app.members.accounts import AccountToken
from app.members.mail import masked
from app.webhooks.models import MailMessage
from tests.factories import PASSWORD, assert_problem, member
from tests.mailbox import Mailbox, bodies, link_token
from tests.members.test_recovery import deliver, login_with


async def change(
    client: httpx.AsyncClient, headers: dict[str, str], new_email: str, **body: str
) -> httpx.Response:
    return await client.post(
        "/v1/members/me/email", json={"password": PASSWORD, "new_email": new_email, **body}, headers=headers
    )


async def me(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, object]:
    r = await client.get("/v1/members/me", headers=headers)
    assert r.status_code == 200, r.text
    found: dict[str, object] = r.json()
    return found


async def queued(app: FastAPI) -> int:
    async with app.state.sessionmaker() as session:
        return len((await session.exec(select(MailMessage))).all())


async def test_a_change_takes_effect_when_the_new_address_is_verified(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, mailbox: Mailbox
) -> None:
    m = await member(mail_client, email="moving@example.org", display_name="Moving Example")
    r = await change(mail_client, m.headers, "New.Home@Example.ORG")
    assert (r.status_code, r.content) == (202, b"")
    # Nothing changes before the link is followed: the old address still logs in.
    assert (await me(mail_client, m.headers))["email"] == "moving@example.org"
    assert await deliver(mail_app) == 2
    # The link goes to the new address, in the form sign-up would store it.
    [confirm] = mailbox.to("new.home@example.org")
    assert confirm["Subject"] == "Confirm the new address of your Mutual Aid account"
    token = link_token(confirm)
    assert f"https://app.example.org/verify-email?token={token}" in bodies(confirm)[0]
    # Mail to an address nobody has proven carries no words of the account holder's.
    assert "Moving Example" not in "".join(bodies(confirm))
    # The old address is told, with the new one masked and no link.
    [notice] = mailbox.to("moving@example.org")
    text, html = bodies(notice)
    assert "n***@e***.org" in text
    assert "n***@e***.org" in html
    assert "new.home" not in (text + html).lower()
    assert "token=" not in text + html
    assert text.startswith("Hello,")  # the account's address is not verified either
    assert "Moving Example" not in text + html

    assert (await mail_client.post("/v1/auth/verify-email", json={"token": token})).status_code == 204
    after = await me(mail_client, m.headers)
    assert (after["email"], after["email_verified"]) == ("new.home@example.org", True)
    # The new address logs in, in any form; the old one no longer does.
    await login_with(mail_client, "NEW.HOME@example.org", PASSWORD)
    old = await mail_client.post(
        "/v1/auth/token", data={"username": "moving@example.org", "password": PASSWORD}
    )
    assert_problem(old, 401)
    # Single use.
    assert_problem(await mail_client.post("/v1/auth/verify-email", json={"token": token}), 422)
    # The old address is free: someone may sign up with it.
    await member(mail_client, email="moving@example.org")


async def test_bad_requests_change_nothing_and_send_nothing(
    mail_client: httpx.AsyncClient, mail_app: FastAPI
) -> None:
    m = await member(mail_client, email="stays@example.org")
    await member(mail_client, email="taken@example.org")
    wrong = await change(mail_client, m.headers, "fresh@example.org", password="not the password")
    assert "password" in assert_problem(wrong, 403)["detail"]
    # Taken, in another form: said as sign-up says it, no more.
    taken = await change(mail_client, m.headers, "TAKEN@example.org")
    signup = await mail_client.post(
        "/v1/members", json={"email": "taken@example.org", "password": PASSWORD, "display_name": "Again"}
    )
    assert assert_problem(taken, 409)["detail"] == assert_problem(signup, 409)["detail"]
    same = await change(mail_client, m.headers, "Stays@Example.org")
    assert assert_problem(same, 422)["errors"][0]["loc"] == ["body", "new_email"]
    for bad in ({"new_email": "not an address"}, {"new_email": "x@example.test"}, {"password": ""}):
        r = await mail_client.post(
            "/v1/members/me/email",
            json={"password": PASSWORD, "new_email": "a@example.org", **bad},
            headers=m.headers,
        )
        assert_problem(r, 422)
    assert_problem(await mail_client.post("/v1/members/me/email", json={"password": PASSWORD}), 401)
    assert await queued(mail_app) == 0
    assert (await me(mail_client, m.headers))["email"] == "stays@example.org"


async def test_a_stale_or_voided_link_changes_nothing(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, mailbox: Mailbox
) -> None:
    m = await member(mail_client, email="careful@example.org")
    await change(mail_client, m.headers, "first@example.org")
    await change(mail_client, m.headers, "second@example.org")
    await deliver(mail_app)
    first, second = (
        link_token(mailbox.to("first@example.org")[0]),
        link_token(mailbox.to("second@example.org")[0]),
    )
    # A newer request voids the older link.
    assert_problem(await mail_client.post("/v1/auth/verify-email", json={"token": first}), 422)
    # An expired link does nothing.
    async with mail_app.state.sessionmaker() as session:
        await session.exec(update(AccountToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        await session.commit()
    assert_problem(await mail_client.post("/v1/auth/verify-email", json={"token": second}), 422)
    # A password change voids a pending change: whoever had the old password may have asked it.
    await change(mail_client, m.headers, "third@example.org")
    r = await mail_client.post(
        "/v1/members/me/password",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
        headers=m.headers,
    )
    assert r.status_code == 204
    await deliver(mail_app)
    third = link_token(mailbox.to("third@example.org")[0])
    assert_problem(await mail_client.post("/v1/auth/verify-email", json={"token": third}), 422)
    assert (await me(mail_client, m.headers))["email"] == "careful@example.org"


async def test_an_address_taken_meanwhile_is_a_conflict_and_the_link_stays(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, mailbox: Mailbox
) -> None:
    m = await member(mail_client, email="slow@example.org")
    await change(mail_client, m.headers, "contested@example.org")
    await deliver(mail_app)
    token = link_token(mailbox.to("contested@example.org")[0])
    other = await member(mail_client, email="contested@example.org")
    assert_problem(await mail_client.post("/v1/auth/verify-email", json={"token": token}), 409)
    assert (await me(mail_client, m.headers))["email"] == "slow@example.org"
    # Once the other account moves away, the same link still works (it was not spent).
    erased = await mail_client.request(
        "DELETE", "/v1/members/me", json={"password": PASSWORD}, headers=other.headers
    )
    assert erased.status_code == 204, erased.text
    assert (await mail_client.post("/v1/auth/verify-email", json={"token": token})).status_code == 204
    assert (await me(mail_client, m.headers))["email"] == "contested@example.org"


async def test_links_to_the_old_address_stop_working_after_a_change(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, mailbox: Mailbox
) -> None:
    m = await member(mail_client, email="old.box@example.org")
    await mail_client.post("/v1/auth/password-reset", json={"email": "old.box@example.org"})
    await change(mail_client, m.headers, "new.box@example.org")
    await deliver(mail_app)
    reset = next(link_token(x) for x in mailbox.to("old.box@example.org") if "reset" in x["Subject"].lower())
    assert (
        await mail_client.post(
            "/v1/auth/verify-email", json={"token": link_token(mailbox.to("new.box@example.org")[0])}
        )
    ).status_code == 204
    r = await mail_client.post(
        "/v1/auth/password-reset/confirm", json={"token": reset, "new_password": "a brand new passphrase"}
    )
    assert_problem(r, 422)
    assert (await login_with(mail_client, "new.box@example.org", PASSWORD))["access_token"]


async def test_erasure_takes_the_mail_to_a_pending_new_address(
    mail_client: httpx.AsyncClient, mail_app: FastAPI
) -> None:
    m = await member(mail_client, email="leaving@example.org")
    await change(mail_client, m.headers, "elsewhere@example.org")
    erased = await mail_client.request(
        "DELETE", "/v1/members/me", json={"password": PASSWORD}, headers=m.headers
    )
    assert erased.status_code == 204, erased.text
    async with mail_app.state.sessionmaker() as session:
        left = (await session.exec(select(MailMessage.to_address))).all()
        tokens = (
            await session.exec(select(AccountToken).where(col(AccountToken.email) == "elsewhere@example.org"))
        ).all()
    assert "elsewhere@example.org" not in left
    assert tokens == []


def test_masking_keeps_a_hint_and_no_more() -> None:
    assert masked("sam@example.org") == "s***@e***.org"
    assert masked("x@localhost") == "x***@l***"
    assert masked("a.b@mail.example.co.uk") == "a***@m***.uk"
