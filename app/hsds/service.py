"""Organisations and their public activities as HSDS 3.0 objects; never personal data.

An activity becomes a service of its organisation: its schedule from the recurrence, its place
as a service_at_location at the public stand-in point (the coarse cell's centre), with its
languages and accessibility. Ids of the parts (schedule, location, ...) are derived from the
activity's id, so they are stable from one read to the next.
"""

import math
import uuid
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.activities import service as activities
from app.activities.models import Activity
from app.core import recurrence
from app.core.timeutil import stored_zone
from app.hsds.models import (
    HsdsAccessibility,
    HsdsLanguage,
    HsdsLocation,
    HsdsOrganization,
    HsdsPage,
    HsdsSchedule,
    HsdsService,
    HsdsServiceAtLocation,
)
from app.organizations import service as organizations
from app.vocab import Mode

ALL_DAYS = "MO,TU,WE,TH,FR,SA,SU"
_DAY_NAMES = list(recurrence.DAYS)


def _part_id(activity_id: uuid.UUID, part: str) -> str:
    return str(uuid.uuid5(activity_id, part))


def _clock(moment: datetime) -> str:
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    return f"{moment:%H:%M}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _repeat(activity: Activity, first: datetime) -> dict[str, Any]:
    """HSDS's RRULE fields. HSDS knows only WEEKLY and MONTHLY: a daily rule is weekly on every
    day, or (every n days) told in words."""
    if activity.recurrence_rule is None:
        return {}
    rule = recurrence.parse(activity.recurrence_rule)
    fields: dict[str, Any] = {"count": activity.occurrence_count, "wkst": "MO"}
    days = ",".join(f"{n or ''}{_DAY_NAMES[d]}" for n, d in rule.byday) or None
    if rule.freq == "DAILY":
        if rule.interval != 1:
            return {"description": f"Every {rule.interval} days, {activity.occurrence_count} times."}
        return {**fields, "freq": "WEEKLY", "interval": 1, "byday": days or ALL_DAYS}
    if rule.freq == "WEEKLY":
        return {
            **fields,
            "freq": "WEEKLY",
            "interval": rule.interval,
            "byday": days or _DAY_NAMES[first.weekday()],
        }
    monthdays = ",".join(str(d) for d in rule.bymonthday) or (None if days else str(first.day))
    return {"freq": "MONTHLY", "interval": rule.interval, "byday": days, "bymonthday": monthdays, **fields}


def schedule(activity: Activity) -> HsdsSchedule:
    zone = stored_zone(activity.timezone)
    first, first_end = activity.starts_at.astimezone(zone), activity.ends_at.astimezone(zone)
    last = activity.last_ends_at.astimezone(zone)
    offset = first.utcoffset()
    return HsdsSchedule(
        id=_part_id(activity.id, "schedule"),
        service_id=str(activity.id),
        valid_from=first.date().isoformat(),
        valid_to=last.date().isoformat(),
        dtstart=first.date().isoformat(),
        until=last.date().isoformat(),
        timezone=offset.total_seconds() / 3600 if offset is not None else 0.0,
        opens_at=_clock(first),
        closes_at=_clock(first_end),
        attending_type="in_person" if activity.mode == Mode.in_person else "online",
        notes=f"Times are local to {activity.timezone} (IANA), also across daylight saving changes.",
        **_repeat(activity, first),
    )


def _place(activity: Activity) -> list[HsdsServiceAtLocation]:
    if activity.approx_lat is None or activity.approx_lon is None:
        return []
    location_id = _part_id(activity.id, "location")
    features = [
        HsdsAccessibility(
            id=_part_id(activity.id, f"accessibility:{name}"),
            location_id=location_id,
            description=name,
            details=name.replace("_", " ").capitalize(),
        )
        for name in activity.accessibility
    ]
    location = HsdsLocation(
        id=location_id,
        location_type="physical",
        name=activity.title,
        latitude=activity.approx_lat,
        longitude=activity.approx_lon,
        accessibility=features,
    )
    return [
        HsdsServiceAtLocation(
            id=_part_id(activity.id, "service_at_location"),
            service_id=str(activity.id),
            location_id=location_id,
            location=location,
        )
    ]


def service(activity: Activity) -> HsdsService:
    return HsdsService(
        id=str(activity.id),
        organization_id=str(activity.organization_id),
        name=activity.title,
        description=activity.description or "",
        status="active",
        last_modified=activity.created_at.isoformat().replace("+00:00", "Z"),
        languages=[
            HsdsLanguage(id=_part_id(activity.id, f"language:{code}"), service_id=str(activity.id), code=code)
            for code in activity.languages
        ],
        schedules=[schedule(activity)],
        service_at_locations=_place(activity),
    )


def _page(items: list[Any], total: int, page: int, per_page: int) -> dict[str, Any]:
    pages = math.ceil(total / per_page)
    return {
        "total_items": total,
        "total_pages": pages,
        "page_number": page,
        "size": len(items),
        "first_page": page == 1,
        "last_page": page >= pages,
        "empty": total == 0,
        "contents": items,
    }


async def organizations_page(
    session: AsyncSession, *, page: int, per_page: int
) -> HsdsPage[HsdsOrganization]:
    rows, total = await organizations.numbered_page(session, offset=(page - 1) * per_page, limit=per_page)
    items = [HsdsOrganization(id=str(o.id), name=o.name, description=o.description or "") for o in rows]
    return HsdsPage[HsdsOrganization].model_validate(_page(items, total, page, per_page))


async def services_page(session: AsyncSession, *, page: int, per_page: int) -> HsdsPage[HsdsService]:
    rows, total = await activities.for_directories(session, offset=(page - 1) * per_page, limit=per_page)
    return HsdsPage[HsdsService].model_validate(_page([service(a) for a in rows], total, page, per_page))
