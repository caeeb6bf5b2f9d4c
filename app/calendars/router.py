"""HTTP routes of a member's calendar feed: made, read, revoked with a login; fetched without one."""

from fastapi import APIRouter, Request, Response

from app.auth.deps import ANONYMOUS_WELCOME, MemberCaller
from app.calendars import replays, service
from app.calendars.models import FeedCreated, FeedState
from app.core import ical
from app.core.deps import SessionDep
from app.core.errors import NotFound, problems
from app.core.timeutil import utcnow
from app.idempotency.replays import replayed_by

router = APIRouter(tags=["calendar"])

FEED = "/members/me/calendar-feed"
NO_FEED = "No such calendar feed."
# The URL is the credential: nothing may keep the answer for anyone else, nor at all.
FEED_CACHE = {"Cache-Control": "private, no-store"}


@router.post(FEED, status_code=201, response_model=FeedCreated, responses=problems(401, 403))
@replayed_by(replays.while_current)
async def create_calendar_feed(
    caller: MemberCaller, session: SessionDep, request: Request, response: Response
) -> FeedCreated:
    """A secret URL of your calendar (`text/calendar`) for a calendar app to subscribe to: your
    confirmed and hosted activities, and your accepted matches' needs, recurring ones as RRULEs.
    Shown once; creating it again replaces it (the old URL stops at once). Anyone holding the
    URL sees what you would (addresses included), so keep it private, and revoke it with DELETE."""
    assert caller.member_id is not None
    token, row = await service.create_feed(session, member_id=caller.member_id)
    url = str(request.url_for("calendar_feed", token=token))
    response.headers.update({"Location": f"/v1{FEED}", "Cache-Control": "no-store"})
    return FeedCreated(url=url, created_at=row.created_at)


@router.get(FEED, response_model=FeedState, responses=problems(401, 403, 404))
async def read_calendar_feed(caller: MemberCaller, session: SessionDep) -> FeedState:
    """Whether you have a feed, and since when (its URL is never shown again)."""
    assert caller.member_id is not None
    row = await service.current_feed(session, member_id=caller.member_id)
    if row is None:
        raise NotFound("You have no calendar feed.")
    return FeedState(created_at=row.created_at)


@router.delete(FEED, status_code=204, responses=problems(401, 403))
async def revoke_calendar_feed(caller: MemberCaller, session: SessionDep) -> Response:
    """Stop the feed's URL working, from the next fetch (204 also when there was none)."""
    assert caller.member_id is not None
    await service.revoke_feed(session, member_id=caller.member_id)
    return Response(status_code=204)


@router.get(
    "/calendar/{token}.ics",
    name="calendar_feed",
    response_class=Response,
    responses={200: {"content": {ical.MEDIA_TYPE: {"schema": {"type": "string"}}}}, **problems(404)},
    openapi_extra=ANONYMOUS_WELCOME,
)
async def calendar_feed(token: str, session: SessionDep) -> Response:
    """A member's calendar, for calendar apps: no login, the URL's token is the credential.
    404 for a token unknown, replaced or revoked, and for a member suspended or erased."""
    now = utcnow()
    member = await service.member_of(session, token=token, now=now)
    if member is None:
        raise NotFound(NO_FEED)
    body = await service.document(session, member=member, now=now)
    return Response(body, media_type=ical.MEDIA_TYPE, headers=FEED_CACHE)
