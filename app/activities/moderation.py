"""An activity as a report's subject: found only as its reader may see it, removed by cancelling it.

A report about an activity is about the member who made it (told the decision; `suspend`
suspends them) and, for an organisation's activity, joins that organisation's queue, as a
need's or an offer's does; a member's own activity is for platform admins to decide.
"""

import uuid
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from app.activities import service
from app.activities.models import Activity, ActivityStatus
from app.auth.callers import Caller
from app.safety.hooks import Subject


async def find(session: AsyncSession, *, caller: Caller, subject_id: uuid.UUID) -> Subject | None:
    """The activity when the caller may see it (`service.may_see`: not hidden by a block or a
    suspended host), as `GET /activities/{id}` would find it; None otherwise."""
    activity = await session.get(Activity, subject_id)
    if activity is None or not await service.may_see(session, activity, caller.member_id):
        return None
    return Subject("activity", activity.id, activity.host_id, activity.organization_id)


async def remove(session: AsyncSession, *, subject_id: uuid.UUID, now: datetime) -> None:
    """Cancel it (every participant is told, its organisation's webhooks hear of it); one
    already cancelled stays as it is."""
    activity = await session.get(Activity, subject_id)
    if activity is not None and activity.status == ActivityStatus.open:
        await service.cancel_activity(session, activity=activity)
