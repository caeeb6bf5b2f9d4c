"""Privacy of needs and offers: what strangers can and cannot learn, over randomised data."""

import random

import httpx

from app.geo import haversine_km
from tests.factories import member, need_body, offer_body

SECRET_KEYS = {"location", "address", "contact", "requester_id", "filed_by", "external_id"}


async def test_public_view_never_shows_exact_location_contact_or_requester(client: httpx.AsyncClient) -> None:
    rng = random.Random(20261126)
    owners = [await member(client, display_name=f"Requester {i}") for i in range(3)]
    stranger = await member(client)
    created = []
    for i in range(40):
        owner = rng.choice(owners)
        mode = rng.choice(["in_person", "in_person", "remote"])
        body = need_body(
            rng,
            mode=mode,
            address=f"{rng.randint(1, 500)} Hidden Lane",
            contact={"name": f"Contact {i}", "phone": f"+44 7700 9{rng.randint(10000, 99999)}"},
        )
        if mode == "remote" and rng.random() < 0.5:
            del body["location"]
        r = await client.post("/v1/needs", json=body, headers=owner.headers)
        assert r.status_code == 201
        created.append((owner, body, r.json()))

    for owner, body, need in created:
        reads = [await client.get(f"/v1/needs/{need['id']}", headers=h) for h in ({}, stranger.headers, {})]
        listed = [
            n
            for page in ({}, stranger.headers)
            for n in (await client.get("/v1/needs?limit=100", headers=page)).json()["items"]
            if n["id"] == need["id"]
        ]
        assert len(listed) == 2
        for view in [r.json() for r in reads] + listed:
            assert view["view"] == "public"
            assert not SECRET_KEYS & view.keys()
            text = str(view)
            for secret in (
                body.get("address"),
                body["contact"]["name"],
                body["contact"]["phone"],
                owner.id,
                owner.data["display_name"],
                owner.data["email"],
            ):
                assert str(secret) not in text
            # The stand-in is fixed per need and is never the exact point.
            assert view["approx_location"] == need["approx_location"]
            if "location" in body:
                exact = body["location"]
                assert view["approx_location"] != exact
                assert str(exact["lat"]) not in text
                assert str(exact["lon"]) not in text
                approx = view["approx_location"]
                gap = haversine_km(exact["lat"], exact["lon"], approx["lat"], approx["lon"])
                assert 0 < gap < 1.0
        owner_view = (await client.get(f"/v1/needs/{need['id']}", headers=owner.headers)).json()
        assert owner_view["view"] == "owner"
        assert owner_view["location"] == body.get("location")
        assert owner_view["address"] == body["address"]
        assert owner_view["contact"] == body["contact"]
        assert owner_view["requester_id"] == owner.id


async def test_offer_location_is_shown_to_its_volunteer_only(client: httpx.AsyncClient) -> None:
    volunteer, other = await member(client), await member(client)
    r = await client.post(
        "/v1/offers", json=offer_body(location={"lat": 51.4321, "lon": -0.0987}), headers=volunteer.headers
    )
    assert r.status_code == 201
    offer = r.json()
    assert offer["location"] == {"lat": 51.4321, "lon": -0.0987}
    for headers in ({}, other.headers):
        read = await client.get(f"/v1/offers/{offer['id']}", headers=headers)
        assert read.status_code in (401, 404)
        assert "51.4321" not in read.text
        listed = await client.get("/v1/offers", headers=headers)
        assert "51.4321" not in listed.text
    assert (await client.get("/v1/offers", headers=other.headers)).json() == {
        "items": [],
        "next_cursor": None,
    }
    own = await client.get(f"/v1/offers/{offer['id']}", headers=volunteer.headers)
    assert own.json()["location"] == {"lat": 51.4321, "lon": -0.0987}


async def test_editing_private_fields_changes_nothing_a_stranger_can_read(client: httpx.AsyncClient) -> None:
    owner, stranger = await member(client), await member(client)
    created = await client.post(
        "/v1/needs",
        json=need_body(address="12 Quiet Row", contact={"name": "Sam", "phone": "+44 7700 900123"}),
        headers=owner.headers,
    )
    need_id = created.json()["id"]
    before = await client.get(f"/v1/needs/{need_id}", headers=stranger.headers)
    anonymous_before = await client.get(f"/v1/needs/{need_id}")
    edited = await client.patch(
        f"/v1/needs/{need_id}",
        json={"address": "98 Other Street", "contact": {"name": "Sam", "phone": "+44 7700 900456"}},
        headers=owner.headers,
    )
    assert edited.status_code == 200
    assert edited.json()["updated_at"] != created.json()["updated_at"]
    after = await client.get(f"/v1/needs/{need_id}", headers=stranger.headers)
    assert after.json() == before.json()
    assert "updated_at" not in after.json()
    assert (await client.get(f"/v1/needs/{need_id}")).json() == anonymous_before.json()
    assert "etag" not in after.headers
