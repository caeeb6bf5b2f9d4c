"""Times anywhere in the calendar, with any offset: refused with a 422 when out of bounds, never a 5xx;
and the matching engine's time arithmetic never raises, whatever a stored row holds."""

import random
import uuid
from datetime import UTC, datetime, timedelta, timezone

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.instants import WINDOW_HORIZON, WINDOW_PAST
from app.core.pagination import encode_cursor
from app.core.types import timezones
from app.matching.availability import window_in_week
from app.matching.masks import need_week
from tests.factories import assert_problem, member, need_body, offer_body

ZONES = sorted(timezones())
MAX_OFFSET = 24 * 60 - 1  # RFC 3339 offsets stay under a day

# Naive wall times over the whole range `datetime` holds, with an offset that may push the UTC
# form past either end of it.
offsets = st.integers(-MAX_OFFSET, MAX_OFFSET).map(lambda m: timezone(timedelta(minutes=m)))
walls = st.datetimes(min_value=datetime.min, max_value=datetime.max).map(lambda d: d.replace(microsecond=0))
# Near the ends of the calendar and near now, where the bounds are, as well as anywhere.
edges = st.sampled_from(
    [datetime.min, datetime.min + timedelta(hours=20), datetime.max - timedelta(hours=20), datetime.max]
)
near_now = st.integers(-3 * 366 * 24, 3 * 366 * 24).map(
    lambda h: datetime.now(UTC).replace(tzinfo=None, microsecond=0) + timedelta(hours=h)
)
instants = st.tuples(st.one_of(walls, edges, near_now), offsets)


def rfc3339(instant: tuple[datetime, timezone]) -> str:
    wall, offset = instant
    minutes = int(offset.utcoffset(None).total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    zone = "Z" if minutes == 0 else f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return f"{wall.year:04d}-{wall:%m-%dT%H:%M:%S}{zone}"


def acceptable(instant: tuple[datetime, timezone]) -> bool:
    """What the contract says a window time may be: representable, and within the horizon."""
    wall, offset = instant
    try:
        utc = wall.replace(tzinfo=offset).astimezone(UTC)
    except OverflowError:
        return False
    now = datetime.now(UTC)
    # A minute's margin either side: the test and the server read the clock at different times.
    return now - WINDOW_PAST + timedelta(minutes=1) <= utc <= now + WINDOW_HORIZON - timedelta(minutes=1)


def clearly_refused(instant: tuple[datetime, timezone]) -> bool:
    wall, offset = instant
    try:
        utc = wall.replace(tzinfo=offset).astimezone(UTC)
    except OverflowError:
        return True
    now = datetime.now(UTC)
    return not now - WINDOW_PAST - timedelta(minutes=1) <= utc <= now + WINDOW_HORIZON + timedelta(minutes=1)


HTTP_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@HTTP_SETTINGS
@given(start=instants, end=instants)
async def test_need_windows_anywhere_in_the_calendar_are_201_or_422(
    client: httpx.AsyncClient, start: tuple[datetime, timezone], end: tuple[datetime, timezone]
) -> None:
    who = await member(client)
    body = need_body(window_start=rfc3339(start), window_end=rfc3339(end))
    created = await client.post("/v1/needs", json=body, headers=who.headers)
    assert created.status_code in (201, 422), created.text
    if clearly_refused(start) or clearly_refused(end):
        problem = assert_problem(created, 422)
        assert {tuple(e["loc"][:2]) for e in problem["errors"]} <= {
            ("body", "window_start"),
            ("body", "window_end"),
        }
    elif acceptable(start) and acceptable(end):
        first, last = datetime.fromisoformat(rfc3339(start)), datetime.fromisoformat(rfc3339(end))
        future = last > datetime.now(UTC) + timedelta(minutes=1)
        if first < last and (future or last < datetime.now(UTC) - timedelta(minutes=1)):
            assert created.status_code == (201 if future else 422), created.text

    # The same times as an edit of an existing need, one at a time and together.
    need = (await client.post("/v1/needs", json=need_body(), headers=who.headers)).json()
    for patch in ({"window_start": rfc3339(start)}, {"window_end": rfc3339(end)}):
        edited = await client.patch(f"/v1/needs/{need['id']}", json=patch, headers=who.headers)
        assert edited.status_code in (200, 422), edited.text
        if any(clearly_refused(t) for t in (start, end) if rfc3339(t) in patch.values()):
            assert_problem(edited, 422)

    # In a batch, an item with these times spoils no other.
    batch = await client.post(
        "/v1/needs/batch", json={"items": [body, need_body(title="Plain item")]}, headers=who.headers
    )
    assert batch.status_code == 200, batch.text
    results = batch.json()["results"]
    assert results[0]["status"] == created.status_code
    assert results[1]["status"] == 201


@HTTP_SETTINGS
@given(at=instants, zone=st.sampled_from(ZONES), seed=st.integers(0, 2**32))
async def test_cursors_and_offers_with_any_time_or_zone_never_fail(
    client: httpx.AsyncClient, at: tuple[datetime, timezone], zone: str, seed: int
) -> None:
    who = await member(client)
    cursor = encode_cursor("t", rfc3339(at), str(uuid.uuid4()))
    for path in ("/v1/needs", "/v1/offers", "/v1/matches", "/v1/members/me/audit"):
        r = await client.get(path, params={"cursor": cursor}, headers=who.headers)
        assert r.status_code in (200, 422), (path, r.text)
        if clearly_refused(at) and r.status_code == 422:
            assert assert_problem(r, 422)["errors"][0]["loc"] == ["query", "cursor"]
    rng = random.Random(seed)
    day = rng.choice(["mon", "tue", "wed", "thu", "fri", "sat", "sun"])
    first, last = sorted(rng.sample(range(24 * 60 + 1), 2))
    slot = {
        "day": day,
        "start": f"{first // 60:02d}:{first % 60:02d}",
        "end": f"{last // 60:02d}:{last % 60:02d}",
    }
    offered = await client.post(
        "/v1/offers", json=offer_body(timezone=zone, availability=[slot]), headers=who.headers
    )
    assert offered.status_code in (201, 422), offered.text
    if offered.status_code == 201:
        found = await client.get(f"/v1/offers/{offered.json()['id']}/opportunities", headers=who.headers)
        assert found.status_code == 200, found.text


aware = st.builds(
    lambda wall, offset: wall.replace(tzinfo=offset),
    st.one_of(walls, edges),
    offsets,
)


@settings(max_examples=300, deadline=None)
@given(start=aware, end=aware, zone=st.sampled_from(ZONES))
def test_matching_time_arithmetic_never_raises(start: datetime, end: datetime, zone: str) -> None:
    """Stored rows reach the engine without passing the API's bounds (old rows, hand edits)."""
    if end <= start:
        start, end = end, start
    pieces = window_in_week(start, end, zone)
    assert all(0 <= day < 7 and 0 <= begin < finish <= 24 * 60 for day, begin, finish in pieces)
    try:
        start.astimezone(UTC), end.astimezone(UTC)
    except OverflowError:
        return  # the column type stores UTC: such a pair cannot be stored, so never reaches need_week
    week = need_week(start, end)
    assert all(0 <= word < 1 << 56 for word in week)


async def test_the_reported_edge_times_are_422_with_the_reason(client: httpx.AsyncClient) -> None:
    who = await member(client)
    need = (await client.post("/v1/needs", json=need_body(), headers=who.headers)).json()
    for field, value in (
        ("window_end", "9999-12-31T23:59:59Z"),
        ("window_start", "0001-01-01T00:00:00+05:45"),
    ):
        created = assert_problem(
            await client.post("/v1/needs", json={**need_body(), field: value}, headers=who.headers), 422
        )
        assert created["errors"][0]["loc"] == ["body", field]
        assert "must be a time from 1970-01-01 to 2100-01-01" in created["errors"][0]["msg"]
        patched = await client.patch(f"/v1/needs/{need['id']}", json={field: value}, headers=who.headers)
        assert assert_problem(patched, 422)["errors"][0]["loc"] == ["body", field]
    far = (datetime.now(UTC) + timedelta(days=800)).isoformat()
    body = assert_problem(
        await client.post("/v1/needs", json=need_body(window_end=far), headers=who.headers), 422
    )
    assert "a window must end within two years from now" in body["errors"][0]["msg"]
    batch = await client.post(
        "/v1/needs/batch",
        json={"items": [need_body(window_start="0001-01-01T00:00:00+05:45"), need_body()]},
        headers=who.headers,
    )
    assert batch.status_code == 200, batch.text
    assert [r["status"] for r in batch.json()["results"]] == [422, 201]
