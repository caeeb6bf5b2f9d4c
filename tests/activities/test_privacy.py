"""What each caller is shown of an activity: the address and exact point reach only the host,
its organisation and confirmed participants, in reads and in lists."""

import httpx

from tests.factories import activity, api_key, member, organization

PRIVATE = {"location", "address", "host_id", "updated_at"}


async def test_each_caller_gets_their_view(client: httpx.AsyncClient) -> None:
    coordinator = await member(client)
    org = (await organization(client, coordinator))["id"]
    key = await api_key(client, coordinator, org, ["activities:write"])
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
                assert "51.5074" not in str(body), name
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
    for headers in (confirmed.headers, stranger.headers):
        assert (
            await client.get(f"/v1/activities/{a['id']}/participants", headers=headers)
        ).status_code == 403


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
