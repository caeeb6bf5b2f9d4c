"""How replays of activities' POSTs are answered (app/idempotency/replays.py): the host view is
re-read for the caller as they are now, never the stored bytes with the address."""

import uuid

from app.activities import service
from app.activities.views import HOST, render_host
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
