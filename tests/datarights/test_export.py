"""The export: the whole of what is held about the caller, and nothing of the password."""

import httpx
from sqlmodel import SQLModel

import app.models  # noqa: F401  (every table)
from app.datarights.export import EXCLUDED, SECTIONS
from tests.datarights.world import ADDRESS, EMAIL, NOTE, REPORT_DETAIL, TITLE, everything
from tests.factories import member


def _member_columns() -> set[tuple[str, str]]:
    """Every column naming a member: the members' key, and each foreign key to it."""
    found = {("members", "id")}
    for table in SQLModel.metadata.sorted_tables:
        for column in table.columns:
            if any(fk.column.table.name == "members" for fk in column.foreign_keys):
                found.add((table.name, column.name))
    return found


def test_every_member_column_is_exported_or_excluded_with_a_reason() -> None:
    covered = {pair for section in SECTIONS.values() for pair in section.covers}
    assert all(reason.strip() for reason in EXCLUDED.values())
    assert covered.isdisjoint(EXCLUDED)
    assert _member_columns() - covered - EXCLUDED.keys() == set(), "export it, or exclude it with a reason"
    assert (covered | EXCLUDED.keys()) - _member_columns() == set(), "names a column that is gone"


async def test_the_export_holds_everything_and_no_password(client: httpx.AsyncClient) -> None:
    w = await everything(client)
    r = await client.get("/v1/members/me/export", headers=w.person.headers)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    doc = r.json()
    assert set(doc) == {"format", *SECTIONS}
    assert "password" not in r.text
    assert "hash" not in r.text
    assert doc["profile"]["email"] == EMAIL
    assert {n["title"] for n in doc["needs"]} == {TITLE}
    assert ADDRESS in {n["address"] for n in doc["needs"]}
    assert [o["note"] for o in doc["offers"]] == [NOTE]
    assert len(doc["matches"]) == 2
    assert doc["notifications"]
    assert doc["audit"]
    assert len(doc["blocks"]) == 1
    assert doc["reports"][0]["detail"] == REPORT_DETAIL
    assert (len(doc["activities"]["hosted"]), len(doc["activities"]["joined"])) == (1, 1)
    assert doc["notification_settings"]["push"] is True
    assert [m["organization_id"] for m in doc["organizations"]] == [w.org]


async def test_an_export_holds_nothing_of_anyone_else(client: httpx.AsyncClient) -> None:
    w = await everything(client)
    stranger = await member(client)
    doc = (await client.get("/v1/members/me/export", headers=stranger.headers)).json()
    assert (doc["needs"], doc["offers"], doc["matches"], doc["audit"], doc["blocks"]) == ([], [], [], [], [])
    assert w.person.id not in str(doc)


async def test_a_waitlisted_place_shows_no_address(client: httpx.AsyncClient) -> None:
    w = await everything(client)
    doc = (await client.get("/v1/members/me/export", headers=w.waiting.headers)).json()
    (place,) = doc["activities"]["joined"]
    assert place["my_status"] == "waitlisted"
    assert place.get("address") is None
    assert place.get("location") is None
    mine = (await client.get("/v1/members/me/export", headers=w.person.headers)).json()
    assert mine["activities"]["joined"][0]["address"] is not None  # confirmed: shown
