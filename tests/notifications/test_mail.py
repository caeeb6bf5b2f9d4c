"""Notification mail end to end: the worker mails a real SMTP server (aiosmtpd on loopback); what
arrives names nothing of the other side, carries a one-click unsubscribe (RFC 8058) that works,
waits for quiet hours, and a refused mail is recorded while a deferred one is retried."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import col

from app.core.config import Settings
from app.core.timeutil import utcnow
from app.notifications.channels import unsubscribe_url
from app.notifications.unsubscribe import token_for
from app.webhooks.models import WebhookDelivery
from tests.factories import assert_problem, member, need_body, offer_body
from tests.mailbox import Mailbox, bodies
from tests.notifications.channels import (
    HERE,
    Browser,
    deliver,
    outbox,
    private_values,
    propose,
    settings_put,
    verify_address,
)


def _unsubscribe_url(message: Any) -> str:
    header = message["List-Unsubscribe"]
    assert header.startswith("<https://api.example.org/v1/notifications/unsubscribe?token=")
    return str(header)[1:-1]


async def test_a_proposal_is_mailed_with_nothing_of_the_other_side(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, mailbox: Mailbox
) -> None:
    requester = await member(mail_client, display_name="Robin Requester")
    volunteer = await member(mail_client)
    await verify_address(mail_app, volunteer)
    await verify_address(mail_app, requester)
    match = await propose(mail_client, requester, volunteer)
    assert mailbox.messages == []  # the worker sends, after the commit
    assert await deliver(mail_app) == 1
    [message] = mailbox.to(volunteer.data["email"])
    assert message["Subject"] == "A new match was proposed to you"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = _unsubscribe_url(message)
    text, html = bodies(message)
    notification = (await mail_client.get("/v1/notifications", headers=volunteer.headers)).json()["items"][0]
    link = f"https://app.example.org/notifications/{notification['id']}"
    assert link in text
    assert f'href="{link}"' in html
    assert f"Reference: {match['id']}" in text
    assert url in text
    everything = message.as_string()
    for value in private_values(requester):
        assert value not in everything, value
    [delivery] = await outbox(mail_app, "mail")
    assert (delivery.status, delivery.event_type, delivery.last_status_code) == (
        "delivered",
        "mail.match.proposed",
        250,
    )


async def test_one_click_unsubscribe(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, mailbox: Mailbox
) -> None:
    requester, volunteer = await member(mail_client), await member(mail_client)
    await verify_address(mail_app, volunteer)
    await settings_put(
        mail_client, volunteer, alerts={"enabled": True, "radius_km": 3.0}, timezone="Europe/Paris"
    )
    await propose(mail_client, requester, volunteer)
    await deliver(mail_app)
    [message] = mailbox.to(volunteer.data["email"])
    url = urlsplit(_unsubscribe_url(message))
    path = f"{url.path}?{url.query}"

    # A GET (a link scanner, a person opening the link) changes nothing.
    seen = await mail_client.get(path)
    assert (seen.status_code, seen.json()["email"], seen.headers["Cache-Control"]) == (200, True, "no-store")
    page = await mail_client.get(path, headers={"Accept": "text/html"})
    assert page.headers["content-type"].startswith("text/html")
    assert '<form method="post"' in page.text
    settings = (
        await mail_client.get("/v1/members/me/notification-settings", headers=volunteer.headers)
    ).json()
    assert settings["email"] is True

    # The mail client's one-click POST (RFC 8058 3.2), with no credential.
    r = await mail_client.post(
        path,
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (r.status_code, r.json()["email"]) == (200, False)
    settings = (
        await mail_client.get("/v1/members/me/notification-settings", headers=volunteer.headers)
    ).json()
    # Only the mail is off: everything else the member chose stays.
    assert settings == {
        "email": False,
        "push": False,
        "alerts": {
            "enabled": True,
            "categories": None,
            "radius_km": 3.0,
            "quiet_hours": None,
            "digest": "off",
        },
        "timezone": "Europe/Paris",
    }
    assert (await mail_client.post(path)).status_code == 200  # again: nothing more to do

    await propose(mail_client, requester, volunteer)
    assert await deliver(mail_app) == 0
    assert len(mailbox.to(volunteer.data["email"])) == 1
    # The inbox is not a mail: it has both proposals (and the alert of the second's need).
    items = (await mail_client.get("/v1/notifications", headers=volunteer.headers)).json()["items"]
    assert sorted(n["type"] for n in items) == ["match.proposed", "match.proposed", "need.nearby"]


async def test_a_forged_or_altered_token_is_422_and_changes_nothing(
    mail_client: httpx.AsyncClient, mail_app: FastAPI
) -> None:
    volunteer = await member(mail_client)
    await verify_address(mail_app, volunteer)
    signed_elsewhere = token_for(uuid.UUID(volunteer.id), "another secret")
    for token in (signed_elsewhere, "x", "A" * 64, "é"):
        r = await mail_client.post("/v1/notifications/unsubscribe", params={"token": token})
        assert assert_problem(r, 422)["errors"][0]["loc"] == ["query", "token"]
        assert_problem(await mail_client.get("/v1/notifications/unsubscribe", params={"token": token}), 422)
    settings = (
        await mail_client.get("/v1/members/me/notification-settings", headers=volunteer.headers)
    ).json()
    assert settings["email"] is True


async def test_no_mail_to_an_address_nobody_proved(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, mailbox: Mailbox
) -> None:
    requester, volunteer = await member(mail_client), await member(mail_client)
    await propose(mail_client, requester, volunteer)
    assert await outbox(mail_app, "mail") == []


async def test_a_refusal_is_recorded_and_a_deferral_retried(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, mailbox: Mailbox
) -> None:
    requester, volunteer = await member(mail_client), await member(mail_client)
    await verify_address(mail_app, volunteer)
    mailbox.refuse = True
    await propose(mail_client, requester, volunteer)
    assert await deliver(mail_app) == 1
    [refused] = await outbox(mail_app, "mail")
    assert (refused.status, refused.attempts, refused.last_status_code) == ("failed", 1, 550)
    assert refused.last_error == "The mail server answered 550."

    mailbox.refuse, mailbox.defer = False, 1
    await propose(mail_client, requester, volunteer)
    assert await deliver(mail_app) == 1
    deferred = (await outbox(mail_app, "mail"))[1]
    assert (deferred.status, deferred.attempts, deferred.last_status_code) == ("pending", 1, 451)
    await asyncio.sleep(0.06)  # past the test settings' largest backoff
    assert await deliver(mail_app) == 1
    retried = (await outbox(mail_app, "mail"))[1]
    assert (retried.status, retried.attempts) == ("delivered", 2), retried.last_error
    assert len(mailbox.to(volunteer.data["email"])) == 1


async def _quiet_now(client: httpx.AsyncClient, who: Any, zone: str, **alerts: Any) -> datetime:
    """Quiet hours around now in `zone` (an hour before to two hours after); when they end."""
    local = datetime.now(UTC).astimezone(ZoneInfo(zone))
    start, end = local - timedelta(hours=1), local + timedelta(hours=2)
    quiet = {"start": f"{start:%H}:00", "end": f"{end:%H}:00"}
    await settings_put(client, who, push=True, timezone=zone, alerts={**alerts, "quiet_hours": quiet})
    ends = end.replace(minute=0, second=0, microsecond=0)
    return ends.astimezone(UTC)


async def test_quiet_hours_hold_mail_and_push_but_not_the_inbox(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, mailbox: Mailbox
) -> None:
    requester, volunteer = await member(mail_client), await member(mail_client)
    await verify_address(mail_app, volunteer)
    body = Browser().subscription("https://push.example.net/wpush/v2/quiet")
    r = await mail_client.post("/v1/members/me/push-subscriptions", json=body, headers=volunteer.headers)
    assert r.status_code == 201, r.text
    ends = await _quiet_now(mail_client, volunteer, "Asia/Kolkata")  # a zone off the hour: UTC+05:30
    await propose(mail_client, requester, volunteer)
    # The inbox has it now; mail and push are due when the quiet hours end, not before.
    assert len((await mail_client.get("/v1/notifications", headers=volunteer.headers)).json()["items"]) == 1
    held = await outbox(mail_app, "mail") + await outbox(mail_app, "push")
    assert [d.next_attempt_at for d in held] == [ends, ends]
    assert await deliver(mail_app) == 0
    assert mailbox.messages == []
    # Once the window has passed (as if: the row's due time moved to now), the mail goes out.
    async with mail_app.state.sessionmaker() as session:
        mail_id = held[0].id
        await session.exec(
            update(WebhookDelivery).where(col(WebhookDelivery.id) == mail_id).values(next_attempt_at=utcnow())
        )
        await session.commit()
    assert await deliver(mail_app) == 1
    assert len(mailbox.to(volunteer.data["email"])) == 1


async def test_a_nearby_alert_waits_for_quiet_hours_too(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, mailbox: Mailbox
) -> None:
    requester, volunteer = await member(mail_client), await member(mail_client)
    await verify_address(mail_app, volunteer)
    r = await mail_client.post(
        "/v1/offers", json=offer_body(location=HERE, availability=[]), headers=volunteer.headers
    )
    assert r.status_code == 201, r.text
    ends = await _quiet_now(mail_client, volunteer, "Asia/Tokyo", enabled=True)
    need = await mail_client.post("/v1/needs", json=need_body(location=HERE), headers=requester.headers)
    assert need.status_code == 201, need.text
    [alert] = (await mail_client.get("/v1/notifications", headers=volunteer.headers)).json()["items"]
    assert (alert["type"], alert["data"]["need_id"]) == ("need.nearby", need.json()["id"])
    [mail] = await outbox(mail_app, "mail")
    assert (mail.event_type, mail.next_attempt_at) == ("mail.need.nearby", ends)
    assert await deliver(mail_app) == 0


def test_the_unsubscribe_link_holds_a_token_only() -> None:
    settings = Settings(jwt_secret="s" * 40, api_base_url="https://api.example.org/")
    url = urlsplit(unsubscribe_url(settings, uuid.UUID(int=7)))
    assert (url.scheme, url.netloc, url.path) == ("https", "api.example.org", "/v1/notifications/unsubscribe")
    assert list(parse_qs(url.query)) == ["token"]
