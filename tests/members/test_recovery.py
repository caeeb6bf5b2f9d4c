"""Password reset and email verification end to end: the worker mails a real SMTP server, the
test follows the link it reads there."""

from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import col, select

from app.core.timeutil import utcnow
from app.members.accounts import AccountToken
from app.webhooks.delivery import make_client
from app.webhooks.models import DeliveryStatus, MailMessage, WebhookDelivery
from app.webhooks.worker import purge_finished, run_once
from tests.factories import PASSWORD, assert_problem, member
from tests.mailbox import Mailbox, bodies, free_port, link_token
from tests.members.test_sessions import bearer, login
from tests.notifications.channels import Browser

NEW = "a brand new passphrase"


async def deliver(app: FastAPI, **changes: object) -> int:
    """One worker pass, as `python -m app worker` makes them (with these settings changed)."""
    settings = app.state.settings.model_copy(update=changes)
    async with make_client(settings) as client:
        return await run_once(app.state.sessionmaker, settings, client)


async def mail_rows(app: FastAPI) -> list[tuple[WebhookDelivery, MailMessage]]:
    async with app.state.sessionmaker() as session:
        rows = await session.exec(
            select(WebhookDelivery, MailMessage).join(
                MailMessage, col(MailMessage.id) == col(WebhookDelivery.mail_id)
            )
        )
        return list(rows.all())


async def test_reset_end_to_end(mail_client: httpx.AsyncClient, mail_app: FastAPI, mailbox: Mailbox) -> None:
    m = await member(mail_client, email="forgetful@example.org", display_name="Forgetful Example")
    before = await login(mail_client, m.data["email"])
    r = await mail_client.post("/v1/auth/password-reset", json={"email": "Forgetful@Example.org"})
    assert r.status_code == 202
    assert mailbox.messages == []  # nothing is sent inline: the worker sends it
    assert await deliver(mail_app) == 1
    [message] = mailbox.to("forgetful@example.org")
    assert message["Subject"] == "Reset your Mutual Aid password"
    assert message["From"] == "Mutual Aid <no-reply@example.org>"
    text, html = bodies(message)
    token = link_token(message)
    assert f"https://app.example.org/reset-password?token={token}" in text
    assert f'href="https://app.example.org/reset-password?token={token}"' in html
    # The address is not verified: anyone could have signed up with it, so the name (theirs to
    # write) is not put in mail to it.
    assert text.startswith("Hello,")
    assert "Forgetful Example" not in text + html
    # Sent: the delivery is recorded, and the body holding the link is no longer kept.
    [(delivery, stored)] = await mail_rows(mail_app)
    assert (delivery.status, delivery.channel, delivery.event_type) == (
        "delivered",
        "mail",
        "mail.password_reset",
    )
    assert (stored.text_body, stored.html_body) == ("", "")

    confirm = {"token": token, "new_password": NEW}
    assert (await mail_client.post("/v1/auth/password-reset/confirm", json=confirm)).status_code == 204
    # Every session ended; the new password works, the old one does not; the link proved the address.
    for headers in (m.headers, bearer(before)):
        assert_problem(await mail_client.get("/v1/members/me", headers=headers), 401)
    old = await mail_client.post("/v1/auth/token", data={"username": m.data["email"], "password": PASSWORD})
    assert_problem(old, 401)
    after = await login_with(mail_client, m.data["email"], NEW)
    me = await mail_client.get("/v1/members/me", headers=bearer(after))
    assert me.json()["email_verified"] is True
    # Single use.
    again = await mail_client.post(
        "/v1/auth/password-reset/confirm", json={**confirm, "new_password": "yet another one!"}
    )
    assert assert_problem(again, 422)["errors"][0]["loc"] == ["body", "token"]
    # Now the address is proven: its mail greets the member by name.
    r = await mail_client.post("/v1/auth/password-reset", json={"email": "forgetful@example.org"})
    assert r.status_code == 202
    assert await deliver(mail_app) == 1
    assert bodies(mailbox.to("forgetful@example.org")[-1])[0].startswith("Hello Forgetful Example,")


async def login_with(client: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    r = await client.post("/v1/auth/token", data={"username": email, "password": password})
    assert r.status_code == 200, r.text
    tokens: dict[str, str] = r.json()
    return tokens


async def test_an_expired_reset_token_is_refused(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, mailbox: Mailbox
) -> None:
    m = await member(mail_client)
    await mail_client.post("/v1/auth/password-reset", json={"email": m.data["email"]})
    await deliver(mail_app)
    token = link_token(mailbox.to(m.data["email"])[0])
    async with mail_app.state.sessionmaker() as session:
        await session.exec(update(AccountToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        await session.commit()
    r = await mail_client.post("/v1/auth/password-reset/confirm", json={"token": token, "new_password": NEW})
    assert "expired" in assert_problem(r, 422)["detail"]
    assert (await mail_client.get("/v1/members/me", headers=m.headers)).status_code == 200


async def test_a_weak_password_does_not_spend_the_token(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, mailbox: Mailbox
) -> None:
    m = await member(mail_client)
    await mail_client.post("/v1/auth/password-reset", json={"email": m.data["email"]})
    await deliver(mail_app)
    token = link_token(mailbox.to(m.data["email"])[0])
    weak = await mail_client.post(
        "/v1/auth/password-reset/confirm", json={"token": token, "new_password": "password123"}
    )
    assert assert_problem(weak, 422)["errors"][0]["loc"] == ["body", "new_password"]
    ok = await mail_client.post("/v1/auth/password-reset/confirm", json={"token": token, "new_password": NEW})
    assert ok.status_code == 204


async def test_registered_and_unregistered_addresses_get_the_same_answer(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, mailbox: Mailbox
) -> None:
    await member(mail_client, email="known@example.org")
    known = await mail_client.post("/v1/auth/password-reset", json={"email": "known@example.org"})
    unknown = await mail_client.post("/v1/auth/password-reset", json={"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content == b""
    ids = {"x-request-id"}
    assert {k: v for k, v in known.headers.items() if k not in ids} == {
        k: v for k, v in unknown.headers.items() if k not in ids
    }
    # The stranger's address hears only that no account uses it: no link, no name.
    assert await deliver(mail_app) == 2
    [notice] = mailbox.to("nobody@example.org")
    text, html = bodies(notice)
    assert "no account uses it" in text
    assert "token=" not in text + html
    # Its token row names no member, so it redeems nothing.
    async with mail_app.state.sessionmaker() as session:
        rows = (
            await session.exec(select(AccountToken).where(col(AccountToken.email) == "nobody@example.org"))
        ).all()
    assert [r.member_id for r in rows] == [None]


async def test_email_verification(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, mailbox: Mailbox
) -> None:
    m = await member(mail_client, email="verify@example.org")
    assert (await mail_client.get("/v1/members/me", headers=m.headers)).json()["email_verified"] is False
    r = await mail_client.post("/v1/members/me/email-verification", headers=m.headers)
    assert r.status_code == 202
    await deliver(mail_app)
    [message] = mailbox.to("verify@example.org")
    token = link_token(message)
    assert f"https://app.example.org/verify-email?token={token}" in bodies(message)[0]
    assert (await mail_client.post("/v1/auth/verify-email", json={"token": token})).status_code == 204
    assert (await mail_client.get("/v1/members/me", headers=m.headers)).json()["email_verified"] is True
    assert_problem(await mail_client.post("/v1/auth/verify-email", json={"token": token}), 422)
    assert_problem(await mail_client.post("/v1/members/me/email-verification", headers=m.headers), 409)
    # A reset token is not a verification token.
    assert_problem(await mail_client.post("/v1/auth/verify-email", json={"token": "made-up"}), 422)


async def test_a_permanent_smtp_refusal_is_recorded_as_failed(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, mailbox: Mailbox
) -> None:
    m = await member(mail_client)
    mailbox.refuse = True
    await mail_client.post("/v1/members/me/email-verification", headers=m.headers)
    assert await deliver(mail_app) == 1
    [(delivery, stored)] = await mail_rows(mail_app)
    assert delivery.status == DeliveryStatus.failed
    assert delivery.attempts == 1
    assert (delivery.last_status_code, delivery.last_error) == (550, "The mail server answered 550.")
    assert stored.text_body == ""
    assert mailbox.messages == []


async def test_an_unreachable_server_is_retried_with_backoff(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, mailbox: Mailbox
) -> None:
    m = await member(mail_client)
    await mail_client.post("/v1/members/me/email-verification", headers=m.headers)
    # Nothing listens on a freshly freed port.
    assert await deliver(mail_app, smtp_url=f"smtp://127.0.0.1:{free_port()}") == 1
    [(delivery, _)] = await mail_rows(mail_app)
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.last_error == "Could not connect to the mail server."
    assert delivery.next_attempt_at is not None
    # The backoff here is at most 0.05 s: the next pass sends it.
    async with mail_app.state.sessionmaker() as session:
        await session.exec(update(WebhookDelivery).values(next_attempt_at=utcnow()))
        await session.commit()
    assert await deliver(mail_app) == 1
    assert len(mailbox.to(m.data["email"])) == 1


async def test_the_log_sweep_forgets_ended_mail(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, mailbox: Mailbox
) -> None:
    m = await member(mail_client)
    await mail_client.post("/v1/members/me/email-verification", headers=m.headers)
    await deliver(mail_app)
    later = utcnow() + timedelta(days=1)
    assert await purge_finished(mail_app.state.sessionmaker, older_than=later) == (1, 0)
    assert await mail_rows(mail_app) == []
    async with mail_app.state.sessionmaker() as session:
        assert (await session.exec(select(MailMessage))).all() == []


async def test_one_address_gets_a_bounded_number_of_reset_mails(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, mailbox: Mailbox
) -> None:
    """RATE_LIMIT_RESET_MAIL (5/hour): past it the answer is the same 202, and nothing is sent,
    for a registered address and an unregistered one alike."""
    await member(mail_client, email="flooded@example.org")
    for address in ("flooded@example.org", "nobody.flooded@example.org"):
        answers = [
            await mail_client.post("/v1/auth/password-reset", json={"email": address}) for _ in range(7)
        ]
        assert {(r.status_code, r.content) for r in answers} == {(202, b"")}
    await deliver(mail_app)
    assert len(mailbox.to("flooded@example.org")) == 5
    assert len(mailbox.to("nobody.flooded@example.org")) == 5


@pytest.mark.parametrize("how", ["change", "reset"])
async def test_a_new_password_ends_every_way_in_the_old_one_opened(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, mailbox: Mailbox, how: str
) -> None:
    """Someone who had the password logs in and, with that session, makes a calendar feed URL,
    subscribes a browser to push and asks for reset links. The owner's new password ends the
    session and each of those: none needs the session to go on working."""
    owner = await member(mail_client, email="taken.over@example.org")
    stolen = bearer(await login(mail_client, owner.data["email"]))
    r = await mail_client.post("/v1/members/me/calendar-feed", headers=stolen)
    assert r.status_code == 201, r.text
    feed = r.json()["url"]
    assert (await mail_client.get(feed)).status_code == 200
    body = Browser().subscription("https://push.example.net/wpush/v2/taken-over")
    r = await mail_client.post("/v1/members/me/push-subscriptions", json=body, headers=stolen)
    assert r.status_code == 201, r.text
    for _ in range(2):
        r = await mail_client.post("/v1/auth/password-reset", json={"email": owner.data["email"]})
        assert r.status_code == 202
    await deliver(mail_app)
    first, second = (link_token(m) for m in mailbox.to(owner.data["email"]))

    if how == "change":
        body = {"current_password": PASSWORD, "new_password": NEW}
        r = await mail_client.post("/v1/members/me/password", json=body, headers=owner.headers)
    else:
        r = await mail_client.post(
            "/v1/auth/password-reset/confirm", json={"token": first, "new_password": NEW}
        )
    assert r.status_code == 204, r.text

    assert_problem(await mail_client.get("/v1/members/me", headers=stolen), 401)
    assert_problem(await mail_client.get(feed), 404)
    now = bearer(await login_with(mail_client, owner.data["email"], NEW))
    r = await mail_client.get("/v1/members/me/push-subscriptions", headers=now)
    assert r.status_code == 200, r.text
    assert r.json() == []
    confirm = {"token": second, "new_password": "the thief's own choice"}
    r = await mail_client.post("/v1/auth/password-reset/confirm", json=confirm)
    assert assert_problem(r, 422)["errors"][0]["loc"] == ["body", "token"]
    await login_with(mail_client, owner.data["email"], NEW)  # still the owner's password


async def test_verification_mail_has_a_budget_per_address(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, mailbox: Mailbox
) -> None:
    """Anyone may sign up with an address they do not own and ask for its verification mail: at
    most RATE_LIMIT_RESET_MAIL (5/hour) go to it, 429 past that, counted apart from resets (which
    anyone may ask for, and so spend). A verified address is 409 whatever its budget."""
    m = await member(mail_client, email="not.theirs@example.org")
    for _ in range(6):
        r = await mail_client.post("/v1/auth/password-reset", json={"email": m.data["email"]})
        assert r.status_code == 202
    answers = [
        await mail_client.post("/v1/members/me/email-verification", headers=m.headers) for _ in range(6)
    ]
    assert [r.status_code for r in answers] == [202, 202, 202, 202, 202, 429]
    assert int(answers[-1].headers["Retry-After"]) > 0
    assert_problem(answers[-1], 429)
    await deliver(mail_app)
    mails = mailbox.to("not.theirs@example.org")
    assert sorted(m["Subject"] for m in mails).count("Confirm your email address for Mutual Aid") == 5
    assert len(mails) == 10  # and the five resets
    verify = next(m for m in mails if m["Subject"] == "Confirm your email address for Mutual Aid")
    r = await mail_client.post("/v1/auth/verify-email", json={"token": link_token(verify)})
    assert r.status_code == 204, r.text
    assert_problem(await mail_client.post("/v1/members/me/email-verification", headers=m.headers), 409)
