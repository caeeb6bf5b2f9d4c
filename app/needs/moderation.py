"""A need as a report's subject: found only as its reader may see it, removed by cancelling it."""

import uuid
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.callers import Caller
from app.core.errors import NotFound
from app.needs import service
from app.needs.models import Need
from app.needs.views import effective_status
from app.safety.hooks import Subject


async def find(session: AsyncSession, *, caller: Caller, subject_id: uuid.UUID) -> Subject | None:
    try:
        need, _ = await service.get_visible_need(session, need_id=subject_id, caller=caller)
    except NotFound:
        return None
    return Subject("need", need.id, need.requester_id, need.organization_id)


async def remove(session: AsyncSession, *, subject_id: uuid.UUID, now: datetime) -> None:
    """Cancel the need (and its active matches); one already closed stays as it is."""
    need = await session.get(Need, subject_id)
    if need is not None and effective_status(need) in service.EDITABLE:
        await service.end_need(session, need=need, now=now, actor=None)
