"""Rows an older release (or an older tzdata) left, which today's input rules would refuse, are
still read: no read, list, feed or job over them is a 5xx. Views show what is stored; only new
input is checked."""

import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import col

from app.activities.models import Activity
from app.core.timeutil import utcnow
from app.needs.models import Need
from app.notifications.digest import window
from app.notifications.models import NotificationSettings
from app.notifications.quiet import due_at
from tests.factories import activity_body, member, need_body, weekly_series


async def test_a_contact_name_accepted_before_its_rules_tightened_is_shown_as_stored(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    """Before names refused control and bidirectional-override characters, a contact name
    could hold one; the owner view then validated it again, and every read, list and export of
    that need (and of the whole page it was on) answered 500."""
    owner = await member(client)
    r = await client.post(
        "/v1/needs",
        json=need_body(contact={"name": "Alex", "phone": "+44 20 7946 0000"}),
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    need_id = r.json()["id"]
    old_name = "Al\u202eex\nExample"
    async with application.state.sessionmaker() as session:
        await session.exec(
            update(Need).where(col(Need.id) == uuid.UUID(need_id)).values(contact_name=old_name)
        )
        await session.commit()
    r = await client.get(f"/v1/needs/{need_id}", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["contact"] == {"name": old_name, "phone": "+44 20 7946 0000"}
    r = await client.get("/v1/needs", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert (await client.get("/v1/members/me/export", headers=owner.headers)).status_code == 200
    # And it can be put right: the ETag is readable, the new name is checked as any input.
    r = await client.get(f"/v1/needs/{need_id}", headers=owner.headers)
    fix = {"contact": {"name": "Alex Example", "phone": "+44 20 7946 0000"}}
    r = await client.patch(
        f"/v1/needs/{need_id}", json=fix, headers={**owner.headers, "If-Match": r.headers["ETag"]}
    )
    assert r.status_code == 200, r.text


GONE_ZONE = "US/Pacific-New"  # in tzdata until 2020b, which dropped it


async def test_a_time_zone_the_tzdata_no_longer_has_is_read_as_utc(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    """Zones are checked when written; a tzdata release may later drop one. Rows naming it are
    read as UTC (and logged), not made a 500 for every list, feed and job that reads them."""
    with pytest.raises(ZoneInfoNotFoundError):
        ZoneInfo(GONE_ZONE)  # else this test proves nothing
    owner = await member(client)
    need = await client.post("/v1/needs", json=need_body(**weekly_series()), headers=owner.headers)
    assert need.status_code == 201, need.text
    activity = await client.post("/v1/activities", json=activity_body(), headers=owner.headers)
    assert activity.status_code == 201, activity.text
    async with application.state.sessionmaker() as session:
        for table, row in ((Need, need), (Activity, activity)):
            stored = (
                update(table).where(col(table.id) == uuid.UUID(row.json()["id"])).values(timezone=GONE_ZONE)
            )
            await session.exec(stored)
        await session.commit()
    for path in (
        "/v1/needs",
        f"/v1/needs/{need.json()['id']}",
        f"/v1/needs/{need.json()['id']}/occurrences",
        "/v1/hsds/services",
        f"/v1/activities/{activity.json()['id']}/calendar.ics",
        "/v1/members/me/export",
    ):
        r = await client.get(path, headers=owner.headers)
        assert r.status_code == 200, (path, r.text)
    # A member whose settings name it reads them (as stored, to replace) and exports them.
    body = {"alerts": {"enabled": True, "quiet_hours": {"start": "22:00", "end": "07:00"}}}
    r = await client.put("/v1/members/me/notification-settings", json=body, headers=owner.headers)
    assert r.status_code == 200, r.text
    async with application.state.sessionmaker() as session:
        settings = update(NotificationSettings).where(
            col(NotificationSettings.member_id) == uuid.UUID(owner.id)
        )
        await session.exec(settings.values(timezone=GONE_ZONE))
        await session.commit()
    r = await client.get("/v1/members/me/notification-settings", headers=owner.headers)
    assert (r.status_code, r.json()["timezone"]) == (200, GONE_ZONE), r.text
    assert (await client.get("/v1/members/me/export", headers=owner.headers)).status_code == 200
    # The digest's and quiet hours' clocks, for a member whose settings name it.
    now = utcnow()
    assert window(now, {"start": "22:00", "end": "07:00"}, GONE_ZONE).day == (now - timedelta(days=1)).date()
    due_at(now, {"start": "22:00", "end": "07:00"}, GONE_ZONE)
