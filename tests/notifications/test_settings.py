"""Notification settings: defaults until changed, whole replacement by PUT, and 422 for bad bodies."""

import httpx
import pytest

from tests.factories import assert_problem, member

URL = "/v1/members/me/notification-settings"
DEFAULTS = {
    "email": True,
    "push": False,
    "alerts": {"enabled": False, "categories": None, "radius_km": None, "quiet_hours": None, "digest": "off"},
    "timezone": "UTC",
}


async def test_defaults_then_replace_whole(client: httpx.AsyncClient) -> None:
    someone, other = await member(client), await member(client)
    assert (await client.get(URL, headers=someone.headers)).json() == DEFAULTS
    full = {
        "email": False,
        "push": True,
        "alerts": {
            "enabled": True,
            "categories": ["meals", "groceries"],
            "radius_km": 2.5,
            "quiet_hours": {"start": "22:00", "end": "07:00"},
            "digest": "daily",
        },
        "timezone": "Europe/Berlin",
    }
    r = await client.put(URL, json=full, headers=someone.headers)
    assert r.status_code == 200, r.text
    assert r.json() == full
    assert (await client.get(URL, headers=someone.headers)).json() == full
    assert (await client.get(URL, headers=other.headers)).json() == DEFAULTS  # per member

    # PUT replaces: what is left out takes its default again.
    r = await client.put(URL, json={"push": True}, headers=someone.headers)
    assert r.json() == {**DEFAULTS, "push": True}
    assert (await client.get(URL, headers=someone.headers)).json() == {**DEFAULTS, "push": True}


@pytest.mark.parametrize(
    "body",
    [
        {"email": "yes"},
        {"push": 1},
        {"alerts": {"enabled": True, "radius_km": 0}},
        {"alerts": {"enabled": True, "radius_km": 51}},
        {"alerts": {"enabled": True, "categories": []}},
        {"alerts": {"enabled": True, "categories": ["pizza"]}},
        {"alerts": {"enabled": True, "quiet_hours": {"start": "22:00", "end": "22:00"}}},
        {"alerts": {"enabled": True, "quiet_hours": {"start": "25:00", "end": "07:00"}}},
        {"alerts": {"enabled": True, "quiet_hours": {"start": "22:00"}}},
        {"alerts": {"enabled": True, "sound": "loud"}},
        {"alerts": {"enabled": True, "digest": "weekly"}},
        {"alerts": {"enabled": True, "digest": True}},
        {"alerts": {"enabled": True, "digest": None}},
        {"timezone": "Mars/Olympus_Mons"},
        {"colour": "blue"},
        [],
    ],
)
async def test_bad_settings_are_422_and_change_nothing(client: httpx.AsyncClient, body: object) -> None:
    someone = await member(client)
    assert_problem(await client.put(URL, json=body, headers=someone.headers), 422)
    assert (await client.get(URL, headers=someone.headers)).json() == DEFAULTS
