"""The answer activities' hooks get from the domain beside them: notifications tell members what
changed (connected in app.main.connect_domains)."""

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from app.activities.hooks import Change
from app.notifications import service as notifications


async def tell(
    session: AsyncSession, *, activity_id: uuid.UUID, member_ids: list[uuid.UUID], change: Change
) -> None:
    """`activity.updated` to each member, with the activity's id and what changed for them
    (`promoted`, `cancelled`, `removed`); the host or system acted, so no actor is left out."""
    await notifications.notify(
        session,
        recipients=member_ids,
        type="activity.updated",
        data={"activity_id": str(activity_id), "change": str(change)},
        actor=None,
    )
