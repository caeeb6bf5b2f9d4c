"""How a replay of `POST /members/me/calendar-feed` is answered (app/idempotency/replays.py): the
URL again only while it is still the member's feed, never one since replaced or revoked."""

from app.calendars import service
from app.idempotency.replays import Fresh, Replaying, gone, verbatim


async def while_current(replaying: Replaying) -> Fresh:
    url = str(replaying.json()["url"])
    token = url.rsplit("/", 1)[-1].removesuffix(".ics")
    member_id = replaying.caller.member_id
    if member_id is None or not await service.is_current(replaying.session, member_id=member_id, token=token):
        raise gone("that feed has since been replaced or revoked")
    return await verbatim(replaying)
