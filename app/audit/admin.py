"""Recording platform-admin and moderation acts (suspensions, grants, resolved reports)."""

import uuid
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit.models import AdminAction


async def record_admin_action(
    session: AsyncSession,
    *,
    actor_member_id: uuid.UUID | None,
    action: str,
    target_member_id: uuid.UUID | None = None,
    report_id: uuid.UUID | None = None,
    organization_id: uuid.UUID | None = None,
    until: datetime | None = None,
    detail: str = "",
) -> AdminAction:
    """One row, flushed in the act's own transaction: the act and its record commit together."""
    row = AdminAction(
        actor_member_id=actor_member_id,
        action=action,
        target_member_id=target_member_id,
        report_id=report_id,
        organization_id=organization_id,
        until=until,
        detail=detail,
    )
    session.add(row)
    await session.flush()
    return row
