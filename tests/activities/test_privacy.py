"""What each caller is shown of an activity: the address and exact point reach only the host,
its organisation and confirmed participants, in reads and in lists."""

import httpx

from tests.factories import activity, api_key, join, member, organization

PRIVATE = {"location", "address", "host_id", "updated_at"}


async def test_each_caller_gets_their_view(client: httpx.AsyncClient) -> None:
    coordinator = await member(client)
    org = (await organization(client, coordinator))["id"]
    key = await api_key(client, coordinator, org, ["activities:write"])
    # Another key of the organisation, made for something else: it hosts nothing.
    narrow = await api_key(client, coordinator, org, ["webhooks:manage", "needs:read"])
    a = await activity(client, coordinator, organization_id=org, capacity=1)
    confirmed, waitlisted, stranger = [await member(client) for _ in range(3)]
    for who in (confirmed, waitlisted):
        await client.post(f"/v1/activities/{a['id']}/join", headers=who.headers)
    expected = {
        "anonymous": ({}, "public", None),
        "stranger": (stranger.headers, "public", None),
        "waitlisted": (waitlisted.headers, "public", "waitlisted"),
        "confirmed": (confirmed.headers, "participant", "confirmed"),
        "host": (coordinator.headers, "host", None),
        "key": (key["headers"], "host", None),
        "key without activities:write": (narrow["headers"], "public", None),
    }
    for name, (headers, view, mine) in expected.items():
        r = await client.get(f"/v1/activities/{a['id']}", headers=headers)
        listed = list((await client.get("/v1/activities", headers=headers)).json()["items"])
        near = (await client.get("/v1/activities?near=51.5,-0.12", headers=headers)).json()["items"]
        for body in (r.json(), *listed, *near):
            assert (body["view"], body["my_status"]) == (view, mine), name
            shown = PRIVATE & body.keys()
            if view == "public":
                assert shown == set(), name
                # Not in a value other than a time ("51.5074" also turns up in seconds 51.5074...).
                untimed = {k: v for k, v in body.items() if not k.endswith(("_at", "_start", "_end"))}
                assert "51.5074" not in str(untimed), name
                assert "north gate" not in str(body), name
            elif view == "participant":
                assert shown == {"location", "address"}, name
                assert body["address"] == "Meet at the north gate, Example Park"
            else:
                assert shown == PRIVATE, name
        assert ("etag" in r.headers) == (view == "host"), name
        if view != "public" or mine is not None:
            assert r.headers["cache-control"] == "no-store", name
    # Counts are public; who is on it is for the host alone.
    assert (r.json()["confirmed_count"], r.json()["waitlisted_count"]) == (1, 1)
    for headers in (confirmed.headers, stranger.headers, narrow["headers"]):
        assert (
            await client.get(f"/v1/activities/{a['id']}/participants", headers=headers)
        ).status_code == 403
    # Its calendar entry carries the address: for confirmed participants and hosts alone.
    calendar = f"/v1/activities/{a['id']}/calendar.ics"
    assert (await client.get(calendar, headers=narrow["headers"])).status_code == 403
    assert "north gate" in (await client.get(calendar, headers=key["headers"])).text


async def test_approx_location_is_the_coarse_cell_not_the_point(client: httpx.AsyncClient) -> None:
    host = await member(client)
    a = await activity(client, host, location={"lat": 51.50123, "lon": -0.14567})
    public = (await client.get(f"/v1/activities/{a['id']}")).json()
    other = await activity(client, host, location={"lat": 51.50124, "lon": -0.14568})
    assert (
        public["approx_location"]
        == (await client.get(f"/v1/activities/{other['id']}")).json()["approx_location"]
    )
    assert public["approx_location"] != {"lat": 51.50123, "lon": -0.14567}


async def test_a_coordinator_who_made_an_activity_hosts_it_only_while_still_a_coordinator(
    client: httpx.AsyncClient,
) -> None:
    """Owner rights follow current roles: once demoted, the activity's maker reads what anyone
    reads, and may neither see who comes, nor move it, nor remove anyone; its organisation's
    coordinators still host it."""
    lead, maker, neighbour = [await member(client) for _ in range(3)]
    org = (await organization(client, lead))["id"]
    await join(client, lead, org, maker, role="coordinator")
    a = await activity(client, maker, organization_id=org, kind="support_group")
    assert (await client.post(f"/v1/activities/{a['id']}/join", headers=neighbour.headers)).status_code == 201
    feed = (await client.post("/v1/members/me/calendar-feed", headers=maker.headers)).json()["url"]
    assert a["id"] in (await client.get(feed)).text

    await join(client, lead, org, maker, role="volunteer")
    read = await client.get(f"/v1/activities/{a['id']}", headers=maker.headers)
    assert read.json()["view"] == "public"
    assert PRIVATE & read.json().keys() == set()
    assert "north gate" not in read.text
    assert "etag" not in read.headers
    listed = (await client.get("/v1/activities", headers=maker.headers)).json()["items"]
    assert [item["view"] for item in listed if item["id"] == a["id"]] == ["public"]
    path = f"/v1/activities/{a['id']}"
    refused = [
        await client.get(f"{path}/participants", headers=maker.headers),
        await client.patch(path, json={"address": "Somewhere else"}, headers=maker.headers),
        await client.delete(f"{path}/participants/{neighbour.id}", headers=maker.headers),
        await client.post(f"{path}/cancel", headers=maker.headers),
    ]
    assert [r.status_code for r in refused] == [403] * 4, [r.text for r in refused]
    assert a["id"] not in (await client.get(feed)).text
    # Their data export still lists the activity they made, as anyone sees it.
    exported = (await client.get("/v1/members/me/export", headers=maker.headers)).json()["activities"]
    assert [(item["id"], item["view"]) for item in exported["hosted"]] == [(a["id"], "public")]
    assert PRIVATE & exported["hosted"][0].keys() == set()
    assert "north gate" not in str(exported)

    hosted = await client.get(f"{path}/participants", headers=lead.headers)
    assert [p["member_id"] for p in hosted.json()["items"]] == [neighbour.id]
    assert (await client.get(path, headers=lead.headers)).json()["address"] == a["address"]
