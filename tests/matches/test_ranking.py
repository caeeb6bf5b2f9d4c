"""Candidates rank by the trip: other things equal, the nearer volunteer first, whatever either's reach."""

import httpx

from tests.factories import member, need_body, offer_body

PARIS = {"lat": 48.8566, "lon": 2.3522}


async def test_a_near_short_reach_ranks_before_a_far_long_reach(client: httpx.AsyncClient) -> None:
    """The field report: a car about 2 km away that drives 5 km, and one about 9 km away that
    drives 50 km. 1 - d / reach put the far one first (0.82 against 0.6 for proximity)."""
    ids = {}
    for name, east_deg, reach in (("far", 0.123, 50.0), ("near", 0.0273, 5.0)):
        volunteer = await member(client)
        body = offer_body(
            categories=["transport"],
            location={"lat": PARIS["lat"], "lon": PARIS["lon"] + east_deg},
            max_distance_km=reach,
            availability=[],
            capabilities=["car"],
        )
        r = await client.post("/v1/offers", json=body, headers=volunteer.headers)
        assert r.status_code == 201, r.text
        ids[r.json()["id"]] = name
    requester = await member(client)
    need = await client.post(
        "/v1/needs",
        json=need_body(category="transport", location=PARIS, requirements=["car"]),
        headers=requester.headers,
    )
    assert need.status_code == 201, need.text
    r = await client.get(f"/v1/needs/{need.json()['id']}/candidates", headers=requester.headers)
    assert r.status_code == 200, r.text
    got = [(ids[c["offer_id"]], c["distance_km"], c["breakdown"]["proximity"]) for c in r.json()["items"]]
    # By hand, 1 / (1 + d / 3) of the distances shown: 1 / (1 + 2/3) = 0.6, 1 / (1 + 9/3) = 0.25.
    assert got == [("near", 2.0, 0.6), ("far", 9.0, 0.25)]
