"""How replays of activities' POSTs are answered (app/idempotency/replays.py): the host view is
re-read for the caller as they are now, never the stored bytes with the address; a place taken is
answered as it stands now, or 409 once the caller no longer holds it."""

import uuid

from app.activities import places, service
from app.activities.models import ActivityStatus, ParticipantStatus
from app.activities.views import HOST, JoinResult, render_host
from app.core.errors import NotFound
from app.core.etag import etag
from app.idempotency.replays import Fresh, Replaying, gone, rendered


async def hosted(replaying: Replaying) -> Fresh:
    """A create or a cancel: the activity in the host view while the caller still hosts it."""
    raw = replaying.path_params.get("activity_id") or replaying.json()["id"]
    try:
        activity, role, _ = await service.read_activity(
            replaying.session, activity_id=uuid.UUID(str(raw)), caller=replaying.caller
        )
    except NotFound:
        raise gone("the activity is no longer there for you") from None
    if role != HOST:
        raise gone("you no longer host this activity")
    return rendered(replaying, render_host(activity), etag=etag(activity.version))


async def joined(replaying: Replaying) -> Fresh:
    """A join: the caller's place as it is now (a waitlisted place since confirmed answers
    `confirmed`), while they still hold one on an open activity they may see; once they left,
    were removed, the activity was cancelled, or it is hidden from them (a block, a suspended
    host), the place they were told of no longer holds."""
    activity_id = uuid.UUID(str(replaying.path_params["activity_id"]))
    session, caller = replaying.session, replaying.caller
    try:
        activity, _, _ = await service.read_activity(session, activity_id=activity_id, caller=caller)
    except NotFound:
        raise gone("the activity is no longer there for you") from None
    if activity.status != ActivityStatus.open:
        raise gone(f"the activity is {activity.status}")
    place = await places.place_of(session, activity_id=activity_id, member_id=caller.member_id)
    if place is None:
        raise gone("you no longer hold a place on this activity")
    status = ParticipantStatus(place.status)
    return rendered(replaying, JoinResult(activity_id=activity_id, status=status, joined_at=place.joined_at))
