"""The inbox over HTTP: paging newest first, the unread filter, and marking read."""

import uuid

import httpx
from fastapi import FastAPI

from app.notifications import service
from tests.factories import assert_problem, member
from tests.notifications.support import inbox


async def _seed(application: FastAPI, member_id: str, count: int) -> list[uuid.UUID]:
    ids = []
    async with application.state.sessionmaker() as session:
        for n in range(count):
            ids += await service.notify(
                session, recipients=[uuid.UUID(member_id)], type="match.proposed", data={"n": n}, actor=None
            )
        await session.commit()
    return ids


async def test_pages_newest_first_and_filters_unread(client: httpx.AsyncClient, application: FastAPI) -> None:
    someone = await member(client)
    ids = [str(i) for i in await _seed(application, someone.id, 5)]
    seen, cursor = [], ""
    while True:
        r = await client.get(f"/v1/notifications?limit=2{cursor}", headers=someone.headers)
        page = r.json()
        seen += [n["id"] for n in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == ids[::-1]
    assert sorted(ids) == ids  # UUID v7: ids sort by creation

    r = await client.post("/v1/notifications/read", json={"ids": ids[:2]}, headers=someone.headers)
    assert r.status_code == 204
    assert [n["id"] for n in await inbox(client, someone, "?unread=true")] == ids[:1:-1]
    read = await inbox(client, someone, "?unread=false")
    assert [n["id"] for n in read] == ids[1::-1]
    assert all(n["read_at"] for n in read)
    assert_problem(await client.get("/v1/notifications?cursor=bm9wZQ", headers=someone.headers), 422)


async def test_marking_read_touches_only_the_callers_own(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    one, other = await member(client), await member(client)
    mine = await _seed(application, one.id, 2)
    theirs = await _seed(application, other.id, 1)
    r = await client.post(
        "/v1/notifications/read", json={"ids": [str(theirs[0]), str(mine[0])]}, headers=one.headers
    )
    assert r.status_code == 204
    assert [n["read_at"] is None for n in await inbox(client, other)] == [True]
    first_read = {n["id"]: n["read_at"] for n in await inbox(client, one)}
    assert first_read[str(mine[1])] is None
    assert first_read[str(mine[0])] is not None

    assert (
        await client.post("/v1/notifications/read", json={"all": True}, headers=one.headers)
    ).status_code == 204
    after = {n["id"]: n["read_at"] for n in await inbox(client, one)}
    assert after[str(mine[0])] == first_read[str(mine[0])]  # the first read time is kept
    assert after[str(mine[1])] is not None
    assert [n["read_at"] is None for n in await inbox(client, other)] == [True]


async def test_bad_read_bodies_are_422_and_change_nothing(
    client: httpx.AsyncClient, application: FastAPI
) -> None:
    one = await member(client)
    await _seed(application, one.id, 1)
    bad: list[dict[str, object]] = [{}, {"all": False}, {"ids": []}, {"ids": ["x"]}, {"ids": None}, {"x": 1}]
    for body in bad:
        assert_problem(await client.post("/v1/notifications/read", json=body, headers=one.headers), 422)
    both = {"ids": [str(uuid.uuid4())], "all": True}
    assert_problem(await client.post("/v1/notifications/read", json=both, headers=one.headers), 422)
    assert [n["read_at"] for n in await inbox(client, one)] == [None]
