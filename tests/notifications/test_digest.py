"""The daily digest of nearby-need alerts (`alerts.digest: daily`), with a fixed clock: the inbox
still gets each alert at once, no mail or push per alert, then one digest mail (a real SMTP server,
aiosmtpd on loopback) of the day's alerts still unread and open; none when none is left; once per
member and day however many workers run; due after the member's quiet hours."""

import asyncio
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import select

from app.core.timeutil import utcnow
from app.dispatch.digest import periodic, still_shown
from app.notifications.digest import send_digests, window
from app.webhooks.models import MailMessage, WebhookDelivery
from tests.factories import Member, member, need_body, offer_body, organization
from tests.mailbox import Mailbox, bodies
from tests.notifications.channels import (
    HERE,
    NEED_AT,
    Browser,
    deliver,
    outbox,
    private_values,
    settings_put,
    verify_address,
)
from tests.safety.moderation import admin


async def _volunteer(app: FastAPI, client: httpx.AsyncClient, **alerts: Any) -> Member:
    """A volunteer with a verified address, an active offer HERE, and alerts on."""
    who = await member(client)
    await verify_address(app, who)
    body = offer_body(
        location=HERE, availability=[], categories=["groceries", "meals", "transport", "pet_care"]
    )
    r = await client.post("/v1/offers", json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    zone, push = alerts.pop("timezone", "UTC"), alerts.pop("push", False)
    await settings_put(client, who, timezone=zone, push=push, alerts={"enabled": True, **alerts})
    return who


async def _need(client: httpx.AsyncClient, requester: Member, **fields: Any) -> dict[str, Any]:
    r = await client.post("/v1/needs", json=need_body(location=NEED_AT, **fields), headers=requester.headers)
    assert r.status_code == 201, r.text
    need: dict[str, Any] = r.json()
    return need


async def _alerts(client: httpx.AsyncClient, who: Member) -> list[dict[str, Any]]:
    items = (await client.get("/v1/notifications", headers=who.headers)).json()["items"]
    return [n for n in reversed(items) if n["type"] == "need.nearby"]


def _next_day(alert: dict[str, Any], zone: str, at: time) -> datetime:
    """`at` on the local day after the alert's, in `zone`, as a UTC instant: a fixed clock."""
    local = datetime.fromisoformat(alert["created_at"]).astimezone(ZoneInfo(zone))
    return datetime.combine(local.date() + timedelta(days=1), at, tzinfo=ZoneInfo(zone)).astimezone(UTC)


async def _deliver_now(app: FastAPI) -> int:
    """A worker pass with the real clock, once the fixed clock's day has come (the queued rows'
    due time moved to now)."""
    async with app.state.sessionmaker() as session:
        await session.exec(update(WebhookDelivery).values(next_attempt_at=utcnow()))
        await session.commit()
    return await deliver(app)


async def _digests(app: FastAPI, now: datetime) -> int:
    return await send_digests(app.state.sessionmaker, app.state.settings, still_shown=still_shown, now=now)


async def test_digest_off_mails_each_alert_and_sends_no_digest(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, mailbox: Mailbox
) -> None:
    requester = await member(mail_client)
    volunteer = await _volunteer(mail_app, mail_client)  # `digest` left out: off
    await _need(mail_client, requester)
    [alert] = await _alerts(mail_client, volunteer)
    assert [d.event_type for d in await outbox(mail_app, "mail")] == ["mail.need.nearby"]
    assert await _digests(mail_app, _next_day(alert, "UTC", time(9))) == 0
    assert await deliver(mail_app) == 1
    [message] = mailbox.to(volunteer.data["email"])
    assert message["Subject"] == "Someone nearby needs help"


async def test_daily_digest_lists_the_days_open_unread_alerts_once(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, mailbox: Mailbox
) -> None:
    # Two requesters: one source alerts a volunteer of at most three needs a day.
    requester, neighbour = await member(mail_client), await member(mail_client)
    volunteer = await _volunteer(mail_app, mail_client, digest="daily")
    kept = await _need(mail_client, requester, category="meals", urgency="high")
    cancelled = await _need(mail_client, requester, category="transport")
    read = await _need(mail_client, neighbour, category="pet_care")
    also_kept = await _need(mail_client, neighbour)
    alerts = await _alerts(mail_client, volunteer)
    # The inbox has each alert at once; nothing is mailed or pushed per alert.
    by_need = {a["data"]["need_id"]: a for a in alerts}
    assert list(by_need) == [kept["id"], cancelled["id"], read["id"], also_kept["id"]]
    assert await outbox(mail_app, "mail") == []
    assert await outbox(mail_app, "push") == []

    r = await mail_client.post(f"/v1/needs/{cancelled['id']}/cancel", headers=requester.headers)
    assert r.status_code == 200, r.text
    r = await mail_client.post(
        "/v1/notifications/read", json={"ids": [by_need[read["id"]]["id"]]}, headers=volunteer.headers
    )
    assert r.status_code == 204, r.text

    # The same day, it is not due; just after the member's midnight, it is.
    assert await _digests(mail_app, _next_day(alerts[0], "UTC", time(0)) - timedelta(minutes=1)) == 0
    now = _next_day(alerts[0], "UTC", time(0, 5))
    assert await _digests(mail_app, now) == 1
    assert await _digests(mail_app, now + timedelta(hours=3)) == 0  # once a day
    [queued] = await outbox(mail_app, "mail")
    assert queued.event_type == "mail.need.nearby.digest"
    assert await _deliver_now(mail_app) == 1
    [message] = mailbox.to(volunteer.data["email"])
    assert message["Subject"] == "2 requests for help near you"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = bodies(message)
    links = [f"https://app.example.org/notifications/{by_need[n['id']]['id']}" for n in (kept, also_kept)]
    for link in links:
        assert link in text
        assert f'href="{link}"' in html
    assert text.index(links[0]) < text.index(links[1])  # oldest first
    assert "Category: meals" in text
    assert "Urgency: high" in text
    for gone in (cancelled, read):
        assert by_need[gone["id"]]["id"] not in message.as_string()
    assert "transport" not in text
    assert "pet care" not in text
    everything = message.as_string()
    for value in private_values(requester) + private_values(neighbour):
        assert value not in everything, value
    approx = by_need[kept["id"]]["data"]["approx_location"]
    assert str(approx["lat"]) not in everything
    assert str(approx["lon"]) not in everything


async def test_the_digest_leaves_out_needs_hidden_from_the_member_since_their_alert(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, mailbox: Mailbox
) -> None:
    """Blocked either way, a suspended requester, a need made organisation-only: each is 404 to
    the volunteer by the next day, so the digest mails nothing of it (blocks: API.md, "alerts")."""
    boss = await admin(mail_client, mail_app)
    blocker, blocked, suspended, coordinator, open_one = [await member(mail_client) for _ in range(5)]
    org = (await organization(mail_client, coordinator))["id"]
    volunteer = await _volunteer(mail_app, mail_client, digest="daily")
    hidden = {
        "blocker": await _need(mail_client, blocker),
        "blocked": await _need(mail_client, blocked),
        "suspended": await _need(mail_client, suspended),
        "private": await _need(mail_client, coordinator, organization_id=org),
    }
    shown = await _need(mail_client, open_one)
    alerts = await _alerts(mail_client, volunteer)
    assert {a["data"]["need_id"] for a in alerts} == {n["id"] for n in [*hidden.values(), shown]}
    steps = [
        mail_client.put(f"/v1/members/me/blocks/{volunteer.id}", headers=blocker.headers),
        mail_client.put(f"/v1/members/me/blocks/{blocked.id}", headers=volunteer.headers),
        mail_client.post(
            f"/v1/admin/members/{suspended.id}/suspend", json={"reason": "Spam."}, headers=boss.headers
        ),
        mail_client.patch(
            f"/v1/needs/{hidden['private']['id']}",
            json={"visibility": "organization"},
            headers=coordinator.headers,
        ),
    ]
    for step in steps:
        r = await step
        assert r.status_code in (200, 204), r.text
    for need in hidden.values():
        r = await mail_client.get(f"/v1/needs/{need['id']}", headers=volunteer.headers)
        assert r.status_code == 404, r.text

    assert await _digests(mail_app, _next_day(alerts[0], "UTC", time(0, 5))) == 1
    assert await _deliver_now(mail_app) == 1
    [message] = mailbox.to(volunteer.data["email"])
    assert message["Subject"] == "A request for help near you"
    text, html = bodies(message)
    by_need = {a["data"]["need_id"]: a["id"] for a in alerts}
    assert by_need[shown["id"]] in text
    for need in hidden.values():
        assert by_need[need["id"]] not in text + html


async def test_no_digest_when_nothing_is_left(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, mailbox: Mailbox
) -> None:
    requester = await member(mail_client)
    # Alerted of no need: they want childcare ones only.
    idle = await _volunteer(mail_app, mail_client, digest="daily", categories=["childcare"])
    reader = await _volunteer(mail_app, mail_client, digest="daily")
    await _need(mail_client, requester)
    [alert] = await _alerts(mail_client, reader)
    r = await mail_client.post("/v1/notifications/read", json={"all": True}, headers=reader.headers)
    assert r.status_code == 204, r.text
    assert await _alerts(mail_client, idle) == []
    assert await _digests(mail_app, _next_day(alert, "UTC", time(1))) == 0
    assert await outbox(mail_app, "mail") == []
    assert await outbox(mail_app, "push") == []
    assert await _deliver_now(mail_app) == 0
    assert mailbox.to(idle.data["email"]) == mailbox.to(reader.data["email"]) == []


async def test_the_digest_waits_for_quiet_hours(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, mailbox: Mailbox
) -> None:
    zone = "Asia/Kolkata"  # off the hour: UTC+05:30
    requester = await member(mail_client)
    volunteer = await _volunteer(
        mail_app,
        mail_client,
        digest="daily",
        timezone=zone,
        quiet_hours={"start": "22:00", "end": "07:30"},
        push=True,
    )
    body = Browser().subscription("https://push.example.net/wpush/v2/digest")
    r = await mail_client.post("/v1/members/me/push-subscriptions", json=body, headers=volunteer.headers)
    assert r.status_code == 201, r.text
    await _need(mail_client, requester)
    [alert] = await _alerts(mail_client, volunteer)
    assert await outbox(mail_app, "mail") == []
    assert await outbox(mail_app, "push") == []

    assert await _digests(mail_app, _next_day(alert, zone, time(0, 5))) == 0  # midnight is quiet
    assert await _digests(mail_app, _next_day(alert, zone, time(7, 29))) == 0
    now = _next_day(alert, zone, time(7, 30))
    assert await _digests(mail_app, now) == 1
    mail, push = await outbox(mail_app, "mail") + await outbox(mail_app, "push")
    assert (mail.event_type, push.event_type) == ("mail.need.nearby.digest", "push.need.nearby.digest")
    assert mail.next_attempt_at == push.next_attempt_at == now


def test_a_digest_queued_inside_quiet_hours_is_due_at_their_end() -> None:
    """The window and its due time, in a zone whose midnight quiet hours hold."""
    quiet = {"start": "23:00", "end": "06:00"}
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # 08:00 in New York (EDT since 8 March)
    span = window(now, quiet, "America/New_York")
    assert span.day.isoformat() == "2026-03-09"
    assert (span.start, span.end) == (
        datetime(2026, 3, 9, 4, 0, tzinfo=UTC),
        datetime(2026, 3, 10, 4, 0, tzinfo=UTC),
    )
    assert span.due == datetime(2026, 3, 10, 10, 0, tzinfo=UTC)  # 06:00 local
    assert window(now, None, "America/New_York").due == span.end


async def test_the_worker_runs_the_digest_job(mail_app: FastAPI, mail_client: httpx.AsyncClient) -> None:
    settings = mail_app.state.settings
    job = periodic(settings)
    assert job.every_seconds == settings.alert_digest_interval_seconds
    await job.run(mail_app.state.sessionmaker, settings)  # nothing due: runs, queues nothing
    assert await outbox(mail_app, "mail") == []


@pytest.mark.postgres
async def test_two_workers_at_once_send_each_digest_once(
    mail_client: httpx.AsyncClient, mail_app: FastAPI
) -> None:
    requester = await member(mail_client)
    volunteers = [await _volunteer(mail_app, mail_client, digest="daily") for _ in range(4)]
    await _need(mail_client, requester)
    alert = (await _alerts(mail_client, volunteers[0]))[0]
    now = _next_day(alert, "UTC", time(2))
    counts = await asyncio.gather(*[_digests(mail_app, now) for _ in range(4)])
    assert sum(counts) == len(volunteers)
    mails = await outbox(mail_app, "mail")
    assert [m.event_type for m in mails] == ["mail.need.nearby.digest"] * len(volunteers)
    async with mail_app.state.sessionmaker() as session:
        addresses = sorted((await session.exec(select(MailMessage.to_address))).all())
    assert addresses == sorted(v.data["email"] for v in volunteers)  # one each
