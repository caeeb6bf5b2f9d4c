"""How a replayed need request is answered now (app/idempotency/replays.py says why): the owner
view as the need stands today, while the caller still owns it; else 409."""

import uuid

from app.core.errors import NotFound
from app.core.etag import etag
from app.core.timeutil import utcnow
from app.idempotency.replays import Fresh, Replaying, gone, rendered
from app.needs import occurrences, service
from app.needs.models import Need, OccurrenceStatus, OccurrenceView
from app.needs.views import OWNER, render_owner, render_written
from app.safety.models import CrisisResource


async def _owned(replaying: Replaying, need_id: uuid.UUID) -> Need:
    try:
        need, role = await service.read_need(replaying.session, need_id=need_id, caller=replaying.caller)
    except NotFound:
        role = None
    if role != OWNER:
        raise gone("the need is no longer yours")
    return need  # read_need audited the private fields this answer shows, as a read would


async def created(replaying: Replaying) -> Fresh:
    first = replaying.json()
    need = await _owned(replaying, uuid.UUID(first["id"]))
    # The helplines the author was given (public numbers, nothing of the need's): not looked up again.
    resources = [CrisisResource.model_validate(r) for r in first.get("resources", [])]
    return rendered(replaying, render_written(need, resources), etag=etag(need.version))


async def cancelled(replaying: Replaying) -> Fresh:
    # A cancelled need stays cancelled: only the right to see it can have changed.
    need = await _owned(replaying, replaying.path_params["need_id"])
    return rendered(replaying, render_owner(need), etag=etag(need.version))


async def occurrence_cancelled(replaying: Replaying) -> Fresh:
    # Still cancelled, unless an edit of the series has since laid it out anew.
    need = await _owned(replaying, replaying.path_params["need_id"])
    first = OccurrenceView.model_validate(replaying.json())
    found = occurrences.find(need, first.start, utcnow())
    if found is None or found.status != OccurrenceStatus.cancelled:
        raise gone("the occurrence is no longer cancelled (the need's series has changed)")
    return rendered(replaying, OccurrenceView(start=found.start, end=found.end, status=found.status))
