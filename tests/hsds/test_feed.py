"""The HSDS 3.0 feed, validated against Open Referral's own schemas and paged like a consumer."""

import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest

from bench.hsds_feed import collect
from tests.factories import NEXT_MONDAY, activity, member, organization

# The schemas live beside the repository (shared/), never copied into it; HSDS_SCHEMAS names
# another folder holding them (a worktree kept elsewhere).
SCHEMAS = Path(
    os.environ.get("HSDS_SCHEMAS") or Path(__file__).resolve().parents[2].parent / "shared" / "hsds-3.0"
)
CI = os.environ.get("CI") == "true"


def _schema(name: str) -> dict[str, Any]:
    if not (SCHEMAS / name).exists():
        if CI:
            pytest.fail(f"the HSDS 3.0 schemas are missing at {SCHEMAS.name}/{name} beside the repository")
        pytest.skip("the HSDS 3.0 schemas (../shared/hsds-3.0 from the repository) are not on this machine")
    loaded: dict[str, Any] = json.loads((SCHEMAS / name).read_text())
    return loaded


def _validator(name: str) -> Any:
    return jsonschema_rs.validator_for(_schema(name), validate_formats=True)


def _errors(validator: Any, item: dict[str, Any]) -> list[str]:
    return [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(item)]


async def _world(client: httpx.AsyncClient) -> tuple[list[str], dict[str, Any]]:
    """Two organisations with activities of every shape, and activities the feed must leave out."""
    coordinators = [await member(client, display_name=f"Coordinator {i}") for i in range(2)]
    orgs = [
        (await organization(client, c, description=None if i else "A food bank"))["id"]
        for i, c in enumerate(coordinators)
    ]
    monday = datetime.fromisoformat(f"{NEXT_MONDAY}T10:00:00+00:00")
    until = monday + timedelta(days=200)
    shapes: list[dict[str, Any]] = [
        {},
        {
            "recurrence": {"rule": "FREQ=MONTHLY;BYDAY=1MO;COUNT=6"},
            "accessibility": ["step_free", "hearing_loop"],
        },
        {"recurrence": {"rule": "FREQ=DAILY;COUNT=5"}, "languages": ["en", "cy"]},
        {"recurrence": {"rule": "FREQ=DAILY;INTERVAL=2;COUNT=5"}},
        {"recurrence": {"rule": f"FREQ=MONTHLY;BYMONTHDAY={monday.day};UNTIL={until:%Y%m%dT%H%M%SZ}"}},
        {
            "recurrence": None,
            "mode": "remote",
            "location": None,
            "address": None,
            "timezone": "Asia/Kathmandu",
        },
    ]
    for i, shape in enumerate(shapes):
        await activity(client, coordinators[i % 2], organization_id=orgs[i % 2], **shape)
    personal = await activity(client, coordinators[0])  # a member's own: never in a directory
    cancelled = await activity(client, coordinators[1], organization_id=orgs[1])
    await client.post(f"/v1/activities/{cancelled['id']}/cancel", headers=coordinators[1].headers)
    return orgs, {"left_out": {personal["id"], cancelled["id"]}, "count": len(shapes)}


async def test_the_feed_validates_against_the_hsds_schemas_and_pages_through(
    client: httpx.AsyncClient,
) -> None:
    organization_schema = _validator("compiled/organization.json")
    service_schema = _validator("compiled/service.json")
    envelope = jsonschema_rs.validator_for(_schema("openapi.json")["components"]["schemas"]["Page"])
    orgs, facts = await _world(client)

    organizations = await collect(client, "/v1/hsds/organizations", per_page=1)
    services = await collect(client, "/v1/hsds/services", per_page=4)
    assert {o["id"] for o in organizations} == set(orgs)
    assert len(services) == facts["count"]
    assert not facts["left_out"] & {s["id"] for s in services}
    for item in organizations:
        assert _errors(organization_schema, item) == []
    for item in services:
        assert _errors(service_schema, item) == []
    first = (await client.get("/v1/hsds/services?page=1&per_page=4")).json()
    assert _errors(envelope, first) == []
    assert (first["total_items"], first["total_pages"], first["first_page"], first["last_page"]) == (
        6,
        2,
        True,
        False,
    )
    beyond = (await client.get("/v1/hsds/services?page=9&per_page=4")).json()
    assert (beyond["contents"], beyond["size"], beyond["last_page"]) == ([], 0, True)

    day = NEXT_MONDAY[8:].lstrip("0")
    shapes = sorted(
        (s.get("freq", "-"), s.get("byday", "-"), s.get("bymonthday", "-"), s.get("description", "-"))
        for s in (service["schedules"][0] for service in services)
    )
    assert shapes == [
        ("-", "-", "-", "-"),
        ("-", "-", "-", "Every 2 days, 5 times."),
        ("MONTHLY", "-", day, "-"),
        ("MONTHLY", "1MO", "-", "-"),
        ("WEEKLY", "MO", "-", "-"),
        ("WEEKLY", "MO,TU,WE,TH,FR,SA,SU", "-", "-"),
    ]
    kathmandu = next(
        s["schedules"][0] for s in services if s["schedules"][0].get("attending_type") == "online"
    )
    assert (kathmandu["timezone"], kathmandu["opens_at"]) == (5.75, "15:45+05:45")


async def test_the_feed_carries_no_personal_data(client: httpx.AsyncClient) -> None:
    _schema("compiled/service.json")
    await _world(client)
    text = json.dumps(await collect(client, "/v1/hsds/services")) + json.dumps(
        await collect(client, "/v1/hsds/organizations")
    )
    for secret in ("north gate", "Coordinator", "example.org", "51.5074", "-0.1278", "+44"):
        assert secret not in text
    located = [s for s in await collect(client, "/v1/hsds/services") if s["service_at_locations"]]
    place = located[0]["service_at_locations"][0]["location"]
    assert (place["latitude"], place["longitude"]) != (51.5074, -0.1278)
    assert place["location_type"] == "physical"
