"""Filing, listing and resolving reports: who may see which, and what each decision does."""

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit.admin import record_admin_action
from app.auth.callers import Caller
from app.core.crud import newest_first, page_of
from app.core.errors import Conflict, Forbidden, Invalid, NotFound
from app.core.timeutil import utcnow
from app.organizations.models import Membership
from app.safety import blocks, hooks, suspension
from app.safety.reporting import (
    Action,
    Report,
    ReportAdmin,
    ReportCreate,
    ReportDecision,
    ReportPublic,
    ReportQueued,
    ReportResolve,
    ReportStatus,
    SubjectType,
)

# Reader of a report: its reporter, a coordinator of its organisation's queue, or a platform admin.
REPORTER, COORDINATOR, ADMIN, SUBJECT = "reporter", "coordinator", "admin", "subject"
_VIEWS: dict[str, type[ReportPublic] | type[ReportDecision]] = {
    ADMIN: ReportAdmin,
    COORDINATOR: ReportQueued,
    REPORTER: ReportPublic,
    SUBJECT: ReportDecision,
}


def render(report: Report, role: str) -> ReportPublic | ReportDecision:
    """The report as `role` reads it (views are allow-lists: app/safety/reporting.py). A
    coordinator's view goes through `view` or `queued`, which decide who it may name."""
    return _VIEWS[role].model_validate(report, from_attributes=True)


async def queued(
    session: AsyncSession, reports: Sequence[Report], organization_ids: frozenset[uuid.UUID]
) -> list[ReportQueued]:
    """Reports as these organisations' coordinators read them: the member behind the subject
    only when that member is one of the organisations' own. Anyone else (the volunteer on a
    match with one of their needs, say) stays as unnamed as the subject shows them elsewhere: a
    report is no way to learn who someone is."""
    ids = {r.subject_member_id for r in reports if r.subject_member_id is not None}
    own: set[uuid.UUID] = set()
    if ids and organization_ids:
        stmt = select(Membership.member_id).where(
            col(Membership.member_id).in_(ids), col(Membership.organization_id).in_(organization_ids)
        )
        own = set((await session.exec(stmt)).all())
    views = [ReportQueued.model_validate(r, from_attributes=True) for r in reports]
    return [
        v if v.subject_member_id in own else v.model_copy(update={"subject_member_id": None}) for v in views
    ]


async def view(
    session: AsyncSession, report: Report, role: str, caller: Caller
) -> ReportPublic | ReportDecision:
    """`render`, with a coordinator's view decided by `queued` for the organisations they coordinate."""
    if role == COORDINATOR:
        return (await queued(session, [report], caller.coordinator_of))[0]
    return render(report, role)


def _is_admin(caller: Caller) -> bool:
    return caller.member is not None and caller.member.platform_admin


async def file_report(session: AsyncSession, *, caller: Caller, data: ReportCreate) -> Report:
    """A report about something the reporter can see; NotFound for anything else, whether it
    exists or not."""
    assert caller.member_id is not None  # members only (the route's guard)
    finder = hooks.domains().find.get(data.subject_type)
    subject = await finder(session, caller=caller, subject_id=data.subject_id) if finder else None
    if subject is None:
        raise NotFound(f"No such {data.subject_type} that you can see.")
    if subject.member_id is not None and subject.member_id == caller.member_id:
        raise Invalid("You cannot report yourself or your own records.", loc=["body", "subject_id"])
    report = Report(
        reporter_id=caller.member_id,
        subject_type=data.subject_type,
        subject_id=subject.id,
        subject_member_id=subject.member_id,
        organization_id=subject.organization_id,
        reason=data.reason,
        detail=data.detail,
    )
    session.add(report)
    await session.flush()
    return report


def _queues(organization_ids: frozenset[uuid.UUID], caller: Caller) -> ColumnElement[bool]:
    """Reports in these organisations' queues (their needs, offers and matches, and reports
    about their members), never one about the coordinator reading it, nor about a member
    blocked either way with them.

    A report about a member is an organisation's only when the reporter and the member were
    both its members when it was filed: they met there. Read by current membership, any
    coordinator could read (and decide) every report ever made about anyone, by adding that
    person to an organisation of their own (a coordinator adds members without their consent),
    and later reports too by adding the person alone; platform admins see every report."""
    subject, reporter = aliased(Membership), aliased(Membership)
    met_there = (
        select(subject.member_id)
        .join(reporter, col(reporter.organization_id) == col(subject.organization_id))
        .where(
            col(subject.organization_id).in_(organization_ids),
            col(subject.member_id) == col(Report.subject_member_id),
            col(reporter.member_id) == col(Report.reporter_id),
            col(subject.created_at) <= col(Report.created_at),
            col(reporter.created_at) <= col(Report.created_at),
        )
        .exists()
    )
    about_a_member = and_(col(Report.subject_type) == SubjectType.member, met_there)
    return and_(
        or_(col(Report.organization_id).in_(organization_ids), about_a_member),
        col(Report.subject_member_id).is_distinct_from(caller.member_id),
        # Never a report about someone blocked either way with the coordinator: they never meet
        # again, a decision's statement included; the organisation's other coordinators decide.
        blocks.not_blocked_with(col(Report.subject_member_id), caller.member_id),
    )


async def list_reports(
    session: AsyncSession, *, caller: Caller, limit: int, cursor: str | None
) -> tuple[list[Report], str | None]:
    """The reporter's own reports; every report for a platform admin, but those about the admin."""
    if _is_admin(caller):
        mine = col(Report.reporter_id) == caller.member_id
        seen = or_(mine, col(Report.subject_member_id).is_distinct_from(caller.member_id))
    else:
        seen = col(Report.reporter_id) == caller.member_id
    stmt = newest_first(select(Report).where(seen), Report, cursor, limit)
    return page_of((await session.exec(stmt)).all(), limit)


async def organization_queue(
    session: AsyncSession,
    *,
    caller: Caller,
    organization_id: uuid.UUID,
    status: ReportStatus | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Report], str | None]:
    stmt = select(Report).where(_queues(frozenset({organization_id}), caller))
    if status is not None:
        stmt = stmt.where(col(Report.status) == status)
    return page_of((await session.exec(newest_first(stmt, Report, cursor, limit))).all(), limit)


async def get_report(session: AsyncSession, *, caller: Caller, report_id: uuid.UUID) -> tuple[Report, str]:
    """The report and how the caller reads it; NotFound for anyone with no view of it."""
    report = await session.get(Report, report_id)
    if report is not None:
        if _is_admin(caller) and report.subject_member_id != caller.member_id:
            return report, ADMIN
        if report.reporter_id == caller.member_id:
            return report, REPORTER
        if caller.coordinator_of and await _queued_for(session, report, caller):
            return report, COORDINATOR
        decided = report.status == ReportStatus.resolved and report.action != Action.dismiss
        if decided and caller.member_id is not None and report.subject_member_id == caller.member_id:
            return report, SUBJECT  # the decision about them and its reasons, never who reported
    raise NotFound("No such report.")


async def _queued_for(session: AsyncSession, report: Report, caller: Caller) -> bool:
    stmt = select(Report.id).where(col(Report.id) == report.id, _queues(caller.coordinator_of, caller))
    return (await session.exec(stmt)).first() is not None


async def resolve(
    session: AsyncSession, *, caller: Caller, report_id: uuid.UUID, data: ReportResolve
) -> tuple[Report, str]:
    """Decide an open report: record the action and its statement of reasons, act on the subject,
    audit it, and tell the hooks' listeners.

    Raises NotFound (no view of it), Forbidden (its reporter, who may read but not decide it; a
    coordinator suspending, which only platform admins do), Conflict (already resolved)."""
    report, role = await get_report(session, caller=caller, report_id=report_id)
    if role == REPORTER:
        raise Forbidden("Only its organisation's coordinators or a platform admin can resolve a report.")
    suspends = data.action == Action.suspend or (
        data.action == Action.remove and report.subject_type == SubjectType.member
    )
    if suspends and role != ADMIN:
        raise Forbidden("Only platform admins can suspend a member.")
    if suspends and report.subject_member_id is None:
        raise Invalid("This report's subject names no member to suspend.", loc=["body", "action"])
    now = utcnow()
    # Conditional on still being open: of two moderators deciding at once, one wins, one gets 409.
    decided = await session.exec(
        update(Report)
        .where(col(Report.id) == report.id, col(Report.status) == ReportStatus.open)
        .values(
            status=ReportStatus.resolved,
            action=data.action,
            statement=data.statement,
            resolved_by=caller.member_id,
            resolved_at=now,
        )
    )
    if decided.rowcount != 1:
        raise Conflict("This report is already resolved.")
    if suspends:
        assert caller.member_id is not None  # platform admins are members
        await suspension.suspend(
            session,
            member_id=report.subject_member_id,
            reason=data.statement,
            until=None,
            actor_id=caller.member_id,
            report_id=report.id,
        )
    elif data.action == Action.remove:
        await hooks.domains().remove[report.subject_type](session, subject_id=report.subject_id, now=now)
    await record_admin_action(
        session,
        actor_member_id=caller.member_id,
        action=f"report_{data.action}",
        target_member_id=report.subject_member_id,
        report_id=report.id,
        detail=data.statement,
    )
    await session.refresh(report)
    for listener in hooks.domains().resolved:
        await listener(session, report)
    return report, role
