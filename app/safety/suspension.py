"""Suspending and reinstating members (platform admins): credentials refused from the next
request (app.auth), offers out of every search (the `suspended` matching rule), public needs
hidden, and every open match cancelled in the same transaction."""

import uuid
from datetime import datetime

from sqlalchemy import update
from sqlmodel import SQLModel, col
from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit.admin import record_admin_action
from app.core.errors import Invalid, NotFound
from app.core.schema import Instant, RequestBody, request_config
from app.core.timeutil import utcnow
from app.members.models import Member
from app.members.suspension import is_suspended
from app.organizations import service as organizations
from app.organizations.models import Membership
from app.safety import hooks
from app.safety.reporting import Statement


class SuspensionCreate(RequestBody):
    model_config = request_config({"reason": "Repeated harassment of requesters (reports resolved)."})

    reason: Statement
    until: Instant | None = None


class SuspensionState(SQLModel):
    """A member's suspension as admins see it; `suspended` is false once reinstated or lapsed."""

    member_id: uuid.UUID
    suspended: bool
    suspended_at: datetime | None
    suspended_until: datetime | None
    reason: str | None
    matches_cancelled: int = 0


def state(member: Member, now: datetime, *, matches_cancelled: int = 0) -> SuspensionState:
    return SuspensionState(
        member_id=member.id,
        suspended=is_suspended(member, now),
        suspended_at=member.suspended_at,
        suspended_until=member.suspended_until,
        reason=member.suspension_reason,
        matches_cancelled=matches_cancelled,
    )


async def _member(session: AsyncSession, member_id: uuid.UUID | None) -> Member:
    member = await session.get(Member, member_id) if member_id is not None else None
    if member is None:
        raise NotFound("No such member.")
    return member


async def suspend(
    session: AsyncSession,
    *,
    member_id: uuid.UUID | None,
    reason: str,
    until: datetime | None,
    actor_id: uuid.UUID,
    report_id: uuid.UUID | None = None,
) -> SuspensionState:
    """Suspend the member now (again, with the new reason and end, if already suspended).

    Raises NotFound for an unknown member, Invalid for `until` not in the future or for an
    admin suspending themselves (their own credentials would stop at once)."""
    member = await _member(session, member_id)
    now = utcnow()
    if until is not None and until <= now:
        raise Invalid("until must be in the future.", loc=["body", "until"])
    if member.id == actor_id:
        raise Invalid("You cannot suspend yourself.", loc=["path", "member_id"])
    await session.exec(
        update(Member)
        .where(col(Member.id) == member.id)
        .values(suspended_at=now, suspended_until=until, suspension_reason=reason, updated_at=now)
    )
    ended = await hooks.domains().end_matches(session, member_id=member.id, now=now)
    await record_admin_action(
        session,
        actor_member_id=actor_id,
        action="suspend",
        target_member_id=member.id,
        report_id=report_id,
        until=until,
        detail=reason,
    )
    await session.refresh(member)
    return state(member, now, matches_cancelled=ended)


async def reinstate(session: AsyncSession, *, member_id: uuid.UUID, actor_id: uuid.UUID) -> SuspensionState:
    """Lift the member's suspension (a lapsed or absent one too: the answer is the same)."""
    member = await _member(session, member_id)
    now = utcnow()
    await session.exec(
        update(Member)
        .where(col(Member.id) == member.id)
        .values(suspended_at=None, suspended_until=None, suspension_reason=None, updated_at=now)
    )
    await record_admin_action(
        session, actor_member_id=actor_id, action="reinstate", target_member_id=member.id
    )
    await session.refresh(member)
    return state(member, now)


class CoordinatorAppointment(RequestBody):
    model_config = request_config(
        {
            "member_id": "0b6f1c2e-5d9a-4c1b-8f3e-2a7d9e4b6c10",
            "reason": "The last coordinator closed their account; a long-standing volunteer takes over.",
        }
    )

    member_id: uuid.UUID
    reason: Statement


async def appoint_coordinator(
    session: AsyncSession, *, organization_id: uuid.UUID, data: CoordinatorAppointment, actor_id: uuid.UUID
) -> tuple[Membership, bool]:
    """An organisation left with no coordinator who can act gets one from a platform admin
    (app.organizations.service.appoint_coordinator says who may be appointed), recorded as an
    admin action with its reason."""
    membership, created = await organizations.appoint_coordinator(
        session, organization_id=organization_id, member_id=data.member_id, actor_id=actor_id
    )
    await record_admin_action(
        session,
        actor_member_id=actor_id,
        action="appoint_coordinator",
        target_member_id=data.member_id,
        organization_id=organization_id,
        detail=data.reason,
    )
    return membership, created
