"""The match lifecycle over HTTP: claims, proposals, each step, the limits, and who sees what."""

import httpx
import pytest

from app.vocab import ISO_639_1
from tests.factories import (
    NEXT_MONDAY,
    assert_problem,
    claim,
    join,
    member,
    need_body,
    offer_body,
    organization,
)

HERE = {"lat": 51.5, "lon": -0.12}


async def _need(client: httpx.AsyncClient, owner, **overrides) -> dict:
    r = await client.post("/v1/needs", json=need_body(location=HERE, **overrides), headers=owner.headers)
    assert r.status_code == 201, r.text
    need: dict = r.json()
    return need


async def _offer(client: httpx.AsyncClient, volunteer, **overrides) -> dict:
    r = await client.post(
        "/v1/offers", json=offer_body(location=HERE, availability=[], **overrides), headers=volunteer.headers
    )
    assert r.status_code == 201, r.text
    offer: dict = r.json()
    return offer


async def test_accepted_claim_takes_a_slot_and_shows_contacts_both_ways(client: httpx.AsyncClient) -> None:
    requester, volunteer = await member(client), await member(client, phone="+44 7700 900555")
    need = await _need(client, requester, volunteers_needed=2)
    offer = await _offer(client, volunteer)
    before = (await client.get(f"/v1/needs/{need['id']}", headers=volunteer.headers)).json()
    assert before["view"] == "public"
    claimed = await claim(client, volunteer, need["id"], offer["id"])
    assert (claimed["status"], claimed["proposed_by"], claimed["requester"]) == (
        "proposed",
        "volunteer",
        None,
    )
    accepted = await client.post(f"/v1/matches/{claimed['id']}/accept", headers=requester.headers)
    assert accepted.status_code == 200, accepted.text
    match = (await client.get(f"/v1/matches/{claimed['id']}", headers=volunteer.headers)).json()
    assert match["status"] == "accepted"
    assert match["volunteer"]["phone"] is None  # their own phone is not news to them
    assert match["requester"] == {"id": None, "display_name": "Alex Example", "phone": "+44 20 7946 0123"}
    after = (await client.get(f"/v1/needs/{need['id']}", headers=volunteer.headers)).json()
    assert after["view"] == "participant"
    assert after["contact"] == need["contact"]
    assert after["address"] == need["address"]
    seen = (await client.get(f"/v1/matches/{match['id']}", headers=requester.headers)).json()
    assert seen["volunteer"] == {
        "id": volunteer.id,
        "display_name": volunteer.data["display_name"],
        "phone": "+44 7700 900555",
    }
    owner_view = (await client.get(f"/v1/needs/{need['id']}", headers=requester.headers)).json()
    assert owner_view["volunteers_accepted"] == 1
    assert owner_view["status"] == "open"
    assert (await client.get(f"/v1/offers/{offer['id']}", headers=volunteer.headers)).json()[
        "active_matches"
    ] == 1


async def test_proposal_hides_contacts_until_accepted(client: httpx.AsyncClient) -> None:
    requester, volunteer = await member(client), await member(client, phone="+44 7700 900556")
    need = await _need(client, requester)
    offer = await _offer(client, volunteer)
    r = await client.post(
        "/v1/matches", json={"need_id": need["id"], "offer_id": offer["id"]}, headers=requester.headers
    )
    proposal = r.json()
    assert proposal["status"] == "proposed"
    seen_by_volunteer = (await client.get(f"/v1/matches/{proposal['id']}", headers=volunteer.headers)).json()
    assert seen_by_volunteer["requester"] is None
    assert proposal["volunteer"]["phone"] is None
    assert (await client.get(f"/v1/needs/{need['id']}", headers=volunteer.headers)).json()["view"] == "public"
    # The requester cannot accept for the volunteer.
    assert_problem(await client.post(f"/v1/matches/{proposal['id']}/accept", headers=requester.headers), 403)
    accepted = await client.post(f"/v1/matches/{proposal['id']}/accept", headers=volunteer.headers)
    assert accepted.json()["status"] == "accepted"
    assert (await client.get(f"/v1/matches/{proposal['id']}", headers=requester.headers)).json()["volunteer"][
        "phone"
    ] == "+44 7700 900556"
    need_now = (await client.get(f"/v1/needs/{need['id']}", headers=requester.headers)).json()
    assert need_now["status"] == "matched"
    # Accepting twice is a state conflict.
    assert_problem(await client.post(f"/v1/matches/{proposal['id']}/accept", headers=volunteer.headers), 409)


async def test_complete_fulfils_and_cancel_reopens(client: httpx.AsyncClient) -> None:
    requester, v1, v2 = await member(client), await member(client), await member(client)
    need = await _need(client, requester, volunteers_needed=2)
    o1, o2 = await _offer(client, v1), await _offer(client, v2)
    m1 = await claim(client, v1, need["id"], o1["id"], accept_as=requester)
    m2 = await claim(client, v2, need["id"], o2["id"], accept_as=requester)
    url = f"/v1/needs/{need['id']}"
    assert (await client.get(url, headers=requester.headers)).json()["status"] == "matched"
    cancelled = await client.post(f"/v1/matches/{m2['id']}/cancel", headers=requester.headers)
    assert cancelled.json()["status"] == "cancelled"
    reopened = (await client.get(url, headers=requester.headers)).json()
    assert (reopened["status"], reopened["volunteers_accepted"]) == ("open", 1)
    assert (await client.get(f"/v1/offers/{o2['id']}", headers=v2.headers)).json()["active_matches"] == 0
    assert (await client.get(url, headers=v2.headers)).json()["view"] == "public"
    again = await claim(client, v2, need["id"], o2["id"], accept_as=requester)
    for m in (m1, again):
        assert (
            await client.post(f"/v1/matches/{m['id']}/complete", headers=requester.headers)
        ).status_code == 200
    done = (await client.get(url, headers=requester.headers)).json()
    assert (done["status"], done["volunteers_accepted"]) == ("fulfilled", 2)
    assert (await client.get(f"/v1/offers/{o1['id']}", headers=v1.headers)).json()["active_matches"] == 0


@pytest.mark.parametrize(
    ("need_extra", "offer_extra", "reason"),
    [
        ({"category": "meals"}, {}, "category"),
        ({"mode": "remote"}, {"modes": ["in_person"]}, "mode"),
        ({"languages": ["es"]}, {"languages": ["en"]}, "language"),
        ({"requirements": ["car"]}, {}, "requirements"),
        ({"requirements": ["first_aid"]}, {"capabilities": ["car"]}, "requirements"),
        ({"location": {"lat": 52.5, "lon": -0.12}}, {}, "distance"),
        (
            {"window_start": f"{NEXT_MONDAY}T09:00:00Z", "window_end": f"{NEXT_MONDAY}T10:00:00Z"},
            {"availability": [{"day": "sat", "start": "10:00", "end": "13:00"}]},
            "availability",
        ),
    ],
)
async def test_ineligible_pairs_are_409_with_the_reason(
    client: httpx.AsyncClient, need_extra: dict, offer_extra: dict, reason: str
) -> None:
    requester, volunteer = await member(client), await member(client)
    body = need_body(**{"location": HERE, **need_extra})
    need = (await client.post("/v1/needs", json=body, headers=requester.headers)).json()
    offer = (
        await client.post(
            "/v1/offers",
            json=offer_body(**{"location": HERE, "availability": [], **offer_extra}),
            headers=volunteer.headers,
        )
    ).json()
    r = await client.post(
        "/v1/matches", json={"need_id": need["id"], "offer_id": offer["id"]}, headers=volunteer.headers
    )
    assert assert_problem(r, 409)["reason"] == reason
    assert (await client.get("/v1/matches", headers=volunteer.headers)).json()["items"] == []


async def test_background_check_counts_only_when_vetted(client: httpx.AsyncClient) -> None:
    coordinator, volunteer = await member(client), await member(client)
    org = (await organization(client, coordinator))["id"]
    await join(client, coordinator, org, volunteer, vetted=True)
    need = (
        await client.post(
            "/v1/needs",
            json=need_body(location=HERE, organization_id=org, requirements=["background_checked"]),
            headers=coordinator.headers,
        )
    ).json()
    offer = await _offer(client, volunteer)
    r = await client.post(
        "/v1/matches", json={"need_id": need["id"], "offer_id": offer["id"]}, headers=volunteer.headers
    )
    assert r.status_code == 201, r.text


async def test_own_need_duplicate_pair_and_full_offer(client: httpx.AsyncClient) -> None:
    person, other = await member(client), await member(client)
    need = await _need(client, person)
    own_offer = await _offer(client, person)
    r = await client.post(
        "/v1/matches", json={"need_id": need["id"], "offer_id": own_offer["id"]}, headers=person.headers
    )
    assert assert_problem(r, 409)["reason"] == "own_need"
    offer = await _offer(client, other)
    first = await client.post(
        "/v1/matches", json={"need_id": need["id"], "offer_id": offer["id"]}, headers=person.headers
    )
    assert first.status_code == 201
    dup = await client.post(
        "/v1/matches", json={"need_id": need["id"], "offer_id": offer["id"]}, headers=person.headers
    )
    assert assert_problem(dup, 409)["reason"] == "already_matched"


async def test_cancelling_a_need_ends_its_matches(client: httpx.AsyncClient) -> None:
    requester, volunteer = await member(client), await member(client)
    need = await _need(client, requester)
    offer = await _offer(client, volunteer)
    m = await claim(client, volunteer, need["id"], offer["id"], accept_as=requester)
    assert (await client.get(f"/v1/offers/{offer['id']}", headers=volunteer.headers)).json()[
        "active_matches"
    ] == 1
    assert (await client.post(f"/v1/needs/{need['id']}/cancel", headers=requester.headers)).status_code == 200
    assert (await client.get(f"/v1/matches/{m['id']}", headers=volunteer.headers)).json()[
        "status"
    ] == "cancelled"
    assert (await client.get(f"/v1/offers/{offer['id']}", headers=volunteer.headers)).json()[
        "active_matches"
    ] == 0


async def test_strangers_cannot_see_or_touch_a_match(client: httpx.AsyncClient) -> None:
    requester, volunteer, stranger = await member(client), await member(client), await member(client)
    need = await _need(client, requester)
    offer = await _offer(client, volunteer)
    m = (
        await client.post(
            "/v1/matches", json={"need_id": need["id"], "offer_id": offer["id"]}, headers=requester.headers
        )
    ).json()
    assert_problem(await client.get(f"/v1/matches/{m['id']}", headers=stranger.headers), 404)
    assert_problem(await client.post(f"/v1/matches/{m['id']}/cancel", headers=stranger.headers), 404)
    assert (await client.get("/v1/matches", headers=stranger.headers)).json()["items"] == []
    assert [
        x["id"]
        for x in (await client.get(f"/v1/matches?need_id={need['id']}", headers=volunteer.headers)).json()[
            "items"
        ]
    ] == [m["id"]]


@pytest.mark.parametrize(
    "extra",
    [
        {"status": "accepted"},
        {"volunteer_id": "00000000-0000-0000-0000-000000000000"},
        {"score": 1.0},
        {"id": "00000000-0000-0000-0000-000000000000"},
    ],
)
async def test_match_create_rejects_fields_callers_cannot_set(client: httpx.AsyncClient, extra: dict) -> None:
    requester, volunteer = await member(client), await member(client)
    need = await _need(client, requester)
    offer = await _offer(client, volunteer)
    body = {"need_id": need["id"], "offer_id": offer["id"], **extra}
    assert_problem(await client.post("/v1/matches", json=body, headers=requester.headers), 422)
    assert (await client.get("/v1/matches", headers=requester.headers)).json()["items"] == []


async def test_run_rejects_bad_bodies(client: httpx.AsyncClient) -> None:
    coordinator = await member(client)
    org = (await organization(client, coordinator))["id"]
    for body in (
        {"organization_id": org, "area": {"lat": 91, "lon": 0, "radius_km": 1}},
        {"organization_id": org, "categories": ["rockets"]},
        {"organization_id": org, "dry_run": "maybe"},
        {"organization_id": org, "dry_run": "false"},
        {"organization_id": org, "candidates_per_need": "5"},
        {"organization_id": org, "candidates_per_need": 5.5},
        {"organization_id": org, "area": {"lat": True, "lon": 0, "radius_km": 1}},
        {"organization_id": org, "candidates_per_need": 0},
        {"organization_id": org, "extra": 1},
    ):
        assert_problem(await client.post("/v1/matching/runs", json=body, headers=coordinator.headers), 422)
    ok = await client.post(
        "/v1/matching/runs",
        json={"organization_id": org, "candidates_per_need": 5.0},
        headers=coordinator.headers,
    )
    assert ok.json()["stats"]["needs"] == 0
    assert ok.json()["assignments"] == []


async def test_a_run_over_more_languages_than_a_mask_holds_is_a_clear_422(client: httpx.AsyncClient) -> None:
    """A run numbers its needs' languages in one 64-bit mask (app.matching.batch.words_of); more
    than 62 is the caller's to narrow, a 422 problem, whether the web worker reads the batch
    (SQLite) or the computing process does and its error crosses back (Postgres)."""
    coordinator, requester = await member(client), await member(client)
    org = (await organization(client, coordinator))["id"]
    await join(client, coordinator, org, requester)
    volunteer = await member(client)
    await join(client, coordinator, org, volunteer)
    await _offer(client, volunteer, organization_id=org)
    codes = sorted(ISO_639_1)[:64]
    for i in range(4):  # 16 languages each, 64 in all
        await _need(client, requester, organization_id=org, languages=codes[i * 16 : (i + 1) * 16])
    for dry_run in (True, False):
        r = await client.post(
            "/v1/matching/runs",
            json={"organization_id": org, "dry_run": dry_run},
            headers=coordinator.headers,
        )
        assert_problem(r, 422)
        assert "more than 62 languages" in r.json()["detail"]
    assert (await client.get("/v1/matches", headers=coordinator.headers)).json()["items"] == []


async def test_run_dry_by_default_then_proposes_its_assignments(client: httpx.AsyncClient) -> None:
    coordinator, requester = await member(client), await member(client)
    org = (await organization(client, coordinator))["id"]
    volunteers = [await member(client) for _ in range(3)]
    for v in volunteers:
        await join(client, coordinator, org, v)
        await _offer(client, v, organization_id=org)
    await join(client, coordinator, org, requester)
    needs = [await _need(client, requester, organization_id=org, urgency=u) for u in ("urgent", "normal")]
    dry = (
        await client.post("/v1/matching/runs", json={"organization_id": org}, headers=coordinator.headers)
    ).json()
    assert dry["dry_run"] is True
    assert dry["stats"]["needs"] == 2
    assert dry["stats"]["offers"] == 3
    assert dry["stats"]["candidate_pairs"] == 6
    assert {a["need_id"] for a in dry["assignments"]} == {n["id"] for n in needs}
    assert dry["unmatched_need_ids"] == []
    assert (await client.get("/v1/matches", headers=coordinator.headers)).json()["items"] == []
    real = (
        await client.post(
            "/v1/matching/runs", json={"organization_id": org, "dry_run": False}, headers=coordinator.headers
        )
    ).json()
    made = (await client.get("/v1/matches?status=proposed", headers=coordinator.headers)).json()["items"]
    assert {(m["need_id"], m["offer_id"]) for m in made} == {
        (a["need_id"], a["offer_id"]) for a in real["assignments"]
    }


async def test_background_checks_need_an_organisation_and_nobody_vets_themselves(
    client: httpx.AsyncClient,
) -> None:
    someone, coordinator, volunteer = await member(client), await member(client), await member(client)
    r = await client.post(
        "/v1/needs",
        json=need_body(location=HERE, requirements=["background_checked"]),
        headers=someone.headers,
    )
    assert assert_problem(r, 422)["errors"][0]["loc"] == ["body", "requirements"]
    org = (await organization(client, coordinator))["id"]
    me = await client.put(
        f"/v1/organizations/{org}/members/{coordinator.id}",
        json={"role": "coordinator", "vetted": True},
        headers=coordinator.headers,
    )
    assert_problem(me, 403)
    # A volunteer whose self-declared capability is all they have is not background-checked.
    await join(client, coordinator, org, volunteer, vetted=False)
    need = (
        await client.post(
            "/v1/needs",
            json=need_body(location=HERE, organization_id=org, requirements=["background_checked"]),
            headers=coordinator.headers,
        )
    ).json()
    offer = await _offer(client, volunteer, capabilities=["background_checked"])
    r = await client.post(
        "/v1/matches", json={"need_id": need["id"], "offer_id": offer["id"]}, headers=volunteer.headers
    )
    assert assert_problem(r, 409)["reason"] == "requirements"


async def test_one_volunteer_fills_one_slot_whatever_the_offer(client: httpx.AsyncClient) -> None:
    requester, volunteer = await member(client), await member(client)
    need = await _need(client, requester, volunteers_needed=2)
    first, second = await _offer(client, volunteer), await _offer(client, volunteer)
    ok = await client.post(
        "/v1/matches", json={"need_id": need["id"], "offer_id": first["id"]}, headers=volunteer.headers
    )
    assert ok.status_code == 201
    again = await client.post(
        "/v1/matches", json={"need_id": need["id"], "offer_id": second["id"]}, headers=volunteer.headers
    )
    assert assert_problem(again, 409)["reason"] == "already_matched"
    candidates = (await client.get(f"/v1/needs/{need['id']}/candidates", headers=requester.headers)).json()[
        "items"
    ]
    assert candidates == []


async def test_accept_checks_the_pair_again(client: httpx.AsyncClient) -> None:
    requester, volunteer = await member(client), await member(client)
    need = await _need(client, requester)
    offer = await _offer(client, volunteer)
    proposal = (
        await client.post(
            "/v1/matches", json={"need_id": need["id"], "offer_id": offer["id"]}, headers=requester.headers
        )
    ).json()
    await client.patch(f"/v1/needs/{need['id']}", json={"category": "childcare"}, headers=requester.headers)
    r = await client.post(f"/v1/matches/{proposal['id']}/accept", headers=volunteer.headers)
    assert assert_problem(r, 409)["reason"] == "category"
    assert (await client.get(f"/v1/needs/{need['id']}", headers=requester.headers)).json()[
        "volunteers_accepted"
    ] == 0


async def test_a_run_within_an_area_takes_its_needs_and_offers_and_remote_needs_anywhere(
    client: httpx.AsyncClient,
) -> None:
    coordinator, requester = await member(client), await member(client)
    org = (await organization(client, coordinator))["id"]
    await join(client, coordinator, org, requester)
    near_volunteer, far_volunteer = await member(client), await member(client)
    for volunteer in (near_volunteer, far_volunteer):
        await join(client, coordinator, org, volunteer)
    far = {"lat": 51.75, "lon": -0.12}  # about 28 km north
    modes = {"modes": ["in_person", "remote"], "max_distance_km": 10}
    near_offer = await _offer(client, near_volunteer, organization_id=org, **modes)
    r = await client.post(
        "/v1/offers",
        json=offer_body(location=far, availability=[], organization_id=org, **modes),
        headers=far_volunteer.headers,
    )
    far_offer = r.json()
    near_need = await _need(client, requester, organization_id=org)
    r = await client.post(
        "/v1/needs", json=need_body(location=far, organization_id=org), headers=requester.headers
    )
    far_need = r.json()
    r = await client.post(
        "/v1/needs",
        json=need_body(location=far, organization_id=org, mode="remote"),
        headers=requester.headers,
    )
    remote_far = r.json()
    everywhere = (
        await client.post("/v1/matching/runs", json={"organization_id": org}, headers=coordinator.headers)
    ).json()
    assert (everywhere["stats"]["needs"], everywhere["stats"]["offers"]) == (3, 2)
    area = {"lat": HERE["lat"], "lon": HERE["lon"], "radius_km": 5}
    r = await client.post(
        "/v1/matching/runs", json={"organization_id": org, "area": area}, headers=coordinator.headers
    )
    within = r.json()
    assert (within["stats"]["needs"], within["stats"]["offers"]) == (2, 1)
    placed = {(a["need_id"], a["offer_id"]) for a in within["assignments"]}
    assert placed <= {(near_need["id"], near_offer["id"]), (remote_far["id"], near_offer["id"])}
    assert far_need["id"] not in {a["need_id"] for a in within["assignments"]} | set(
        within["unmatched_need_ids"]
    )
    assert far_offer["id"] not in {a["offer_id"] for a in within["assignments"]}
