"""Which view of a need a caller gets, and building it from the row (allow-lists only)."""

from typing import Any

from app.core.series import recurrence_view
from app.core.timeutil import utcnow
from app.geo import round_half_km
from app.needs import occurrences
from app.needs.models import (
    Need,
    NeedOwner,
    NeedParticipant,
    NeedPublic,
    NeedStatus,
    NeedWritten,
    closes_at,
)
from app.safety.models import CrisisResource

OWNER, PARTICIPANT, PUBLIC = "owner", "participant", "public"


def effective_status(need: Need) -> NeedStatus:
    """An open need whose window has closed (a recurring one: whose occurrences left are all past)
    is expired, without anyone having to write it."""
    closes = closes_at(need)
    if need.status == NeedStatus.open and closes is not None and closes <= utcnow():
        return NeedStatus.expired
    return NeedStatus(need.status)


def _fields(need: Need, distance_km: float | None) -> dict[str, Any]:
    data = need.model_dump()
    data["status"] = effective_status(need)
    data["approx_location"] = (
        {"lat": need.approx_lat, "lon": need.approx_lon} if need.approx_lat is not None else None
    )
    data["location"] = {"lat": need.lat, "lon": need.lon} if need.lat is not None else None
    has_contact = need.contact_name is not None and need.contact_phone is not None
    data["contact"] = {"name": need.contact_name, "phone": need.contact_phone} if has_contact else None
    data["distance_km"] = round_half_km(distance_km) if distance_km is not None else None
    data["filed_by"] = _filed_by(need)
    data["recurrence"] = recurrence_view(need.recurrence_rule, need.recurrence_until)
    upcoming = occurrences.next_open(need, utcnow()) if occurrences.recurs(need) else None
    data["next_occurrence_start"] = upcoming[0] if upcoming is not None else None
    return data


def _filed_by(need: Need) -> dict[str, Any] | None:
    if need.filed_by_member_id is not None:
        return {"kind": "member", "id": need.filed_by_member_id}
    if need.filed_by_key_id is not None:
        return {"kind": "api_key", "id": need.filed_by_key_id}
    return None


def render(
    need: Need, role: str, distance_km: float | None = None
) -> NeedOwner | NeedParticipant | NeedPublic:
    data = _fields(need, distance_km)
    if role == OWNER:
        return NeedOwner.model_validate(data)
    if role == PARTICIPANT:
        return NeedParticipant.model_validate(data)
    return NeedPublic.model_validate(data)


def render_owner(need: Need) -> NeedOwner:
    return NeedOwner.model_validate(_fields(need, None))


def render_written(need: Need, resources: list[CrisisResource]) -> NeedWritten:
    """The author's answer to a write: the owner view and, only here, crisis resources."""
    return NeedWritten.model_validate({**_fields(need, None), "resources": resources})
