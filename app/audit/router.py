"""Audit trails: a member's own, and an organisation's for its coordinators."""

import uuid

from fastapi import APIRouter

from app.audit import service
from app.audit.models import AuditEntry
from app.auth.deps import AnyCaller, CurrentMember, coordinator_only
from app.core.deps import SessionDep
from app.core.errors import problems
from app.core.pagination import Cursor, Limit, Page

router = APIRouter(tags=["audit"])


@router.get("/members/me/audit", response_model=Page[AuditEntry], responses=problems(401, 403, 422))
async def my_audit(
    member: CurrentMember, session: SessionDep, limit: Limit = 20, cursor: Cursor = None
) -> Page[AuditEntry]:
    """Who has been shown your needs' exact location, address or contact, when, and why."""
    rows, next_cursor = await service.list_events(
        session, subject_member_id=member.id, limit=limit, cursor=cursor
    )
    return Page[AuditEntry](
        items=[service.render(r, for_subject=True) for r in rows], next_cursor=next_cursor
    )


@router.get(
    "/organizations/{organization_id:uuid}/audit",
    response_model=Page[AuditEntry],
    responses=problems(401, 403, 404, 422),
)
async def organization_audit(
    organization_id: uuid.UUID,
    caller: AnyCaller,
    session: SessionDep,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Page[AuditEntry]:
    """Who was shown which of this organisation's needs' private fields (coordinators only)."""
    coordinator_only(caller, organization_id)
    rows, next_cursor = await service.list_events(
        session, organization_id=organization_id, limit=limit, cursor=cursor
    )
    return Page[AuditEntry](items=[service.render(r) for r in rows], next_cursor=next_cursor)
