"""HTTP routes for reports, their moderation, and platform admins' suspensions and appointments."""

import uuid

from fastapi import APIRouter, Depends, Request, Response

from app.auth.deps import AnyCaller, MemberCaller, PlatformAdmin, coordinator_only, limiter
from app.core.deps import SessionDep
from app.core.errors import problems
from app.core.pagination import Cursor, Limit, Page
from app.idempotency.replays import replayed_by, verbatim
from app.organizations.models import MembershipPublic
from app.safety import replays, reports, suspension
from app.safety.reporting import (
    ReportAdmin,
    ReportCreate,
    ReportDecision,
    ReportPublic,
    ReportQueued,
    ReportResolve,
    ReportStatus,
)
from app.safety.suspension import CoordinatorAppointment, SuspensionCreate, SuspensionState

router = APIRouter(tags=["safety"])

ReportView = ReportAdmin | ReportQueued | ReportPublic | ReportDecision
render = reports.render


async def report_budget(request: Request, caller: MemberCaller) -> None:
    """Reports per reporter, on top of the per-caller limit (429 with Retry-After)."""
    rl = limiter(request)
    await rl.hit(rl.reports, f"reports:{caller.member_id}")


@router.post(
    "/reports",
    status_code=201,
    response_model=ReportPublic,
    responses=problems(401, 403, 404, 422, 429),
    dependencies=[Depends(report_budget)],
)
@replayed_by(verbatim)
async def create_report(
    data: ReportCreate, caller: MemberCaller, session: SessionDep, response: Response
) -> ReportPublic:
    """Report a member, need, offer or match you can see. The person reported is never told who
    reported them; you see the decision and its reasons in `GET /v1/reports` once it is made."""
    report = await reports.file_report(session, caller=caller, data=data)
    response.headers["Location"] = f"/v1/reports/{report.id}"
    return ReportPublic.model_validate(report, from_attributes=True)


@router.get("/reports", response_model=Page[ReportView], responses=problems(401, 403, 422))
async def list_reports(
    caller: MemberCaller, session: SessionDep, limit: Limit = 20, cursor: Cursor = None
) -> Page[ReportView]:
    """Your reports, newest first; platform admins see every report (but those about themselves)."""
    rows, next_cursor = await reports.list_reports(session, caller=caller, limit=limit, cursor=cursor)
    admin = caller.member is not None and caller.member.platform_admin
    items = [
        render(r, reports.ADMIN if admin and r.reporter_id != caller.member_id else reports.REPORTER)
        for r in rows
    ]
    return Page[ReportView](items=items, next_cursor=next_cursor)


@router.get("/reports/{report_id:uuid}", response_model=ReportView, responses=problems(401, 403, 404, 422))
async def get_report(
    report_id: uuid.UUID, caller: MemberCaller, session: SessionDep
) -> ReportPublic | ReportDecision:
    """A report you made, one in a queue you moderate, (platform admins) any, or a decision on a
    report about you (its action and statement of reasons; never who reported)."""
    report, role = await reports.get_report(session, caller=caller, report_id=report_id)
    return await reports.view(session, report, role, caller)


@router.get(
    "/organizations/{organization_id:uuid}/reports",
    response_model=Page[ReportQueued],
    responses=problems(401, 403, 404, 422),
)
async def organization_reports(
    organization_id: uuid.UUID,
    caller: AnyCaller,
    session: SessionDep,
    status: ReportStatus | None = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Page[ReportQueued]:
    """Reports about this organisation's needs, offers, matches and members (coordinators only;
    never the reporter's identity, never a report about yourself)."""
    coordinator_only(caller, organization_id)
    rows, next_cursor = await reports.organization_queue(
        session, caller=caller, organization_id=organization_id, status=status, limit=limit, cursor=cursor
    )
    items = await reports.queued(session, rows, frozenset({organization_id}))
    return Page[ReportQueued](items=items, next_cursor=next_cursor)


@router.post(
    "/reports/{report_id:uuid}/resolve",
    response_model=ReportView,
    responses=problems(401, 403, 404, 409, 422),
)
@replayed_by(replays.resolved)
async def resolve_report(
    report_id: uuid.UUID, data: ReportResolve, caller: MemberCaller, session: SessionDep
) -> ReportPublic | ReportDecision:
    """Decide a report with a statement of reasons: `dismiss` and `warn` change nothing else,
    `remove` cancels a need or match or pauses an offer (a member is suspended), `suspend`
    suspends the member behind the subject (platform admins only). A decided report is 409."""
    report, role = await reports.resolve(session, caller=caller, report_id=report_id, data=data)
    return await reports.view(session, report, role, caller)


@router.post(
    "/admin/members/{member_id:uuid}/suspend",
    response_model=SuspensionState,
    responses=problems(401, 403, 404, 422),
)
@replayed_by(replays.while_platform_admin)
async def suspend_member(
    member_id: uuid.UUID, data: SuspensionCreate, admin: PlatformAdmin, session: SessionDep
) -> SuspensionState:
    """Suspend a member (platform admins): their credentials stop from the next request, their
    offers and public needs leave every search, and their open matches are cancelled."""
    return await suspension.suspend(
        session, member_id=member_id, reason=data.reason, until=data.until, actor_id=admin.id
    )


@router.post(
    "/admin/members/{member_id:uuid}/reinstate",
    response_model=SuspensionState,
    responses=problems(401, 403, 404, 422),
)
@replayed_by(replays.while_platform_admin)
async def reinstate_member(
    member_id: uuid.UUID, admin: PlatformAdmin, session: SessionDep
) -> SuspensionState:
    """Lift a member's suspension (platform admins); cancelled matches stay cancelled."""
    return await suspension.reinstate(session, member_id=member_id, actor_id=admin.id)


@router.post(
    "/admin/organizations/{organization_id:uuid}/coordinators",
    status_code=200,
    response_model=MembershipPublic,
    responses={**problems(401, 403, 404, 409, 422), 201: {"model": MembershipPublic}},
)
@replayed_by(replays.while_platform_admin)
async def appoint_coordinator(
    organization_id: uuid.UUID,
    data: CoordinatorAppointment,
    admin: PlatformAdmin,
    session: SessionDep,
    response: Response,
) -> MembershipPublic:
    """Give an organisation that no coordinator can act for (its last one erased their account,
    or every one is suspended) a coordinator: one of its members, or yourself (platform admins).
    201 when the admin joins it, 200 when a member's role changes; 409 while a coordinator can
    act (they appoint others), or for a suspended member; 404 for an unknown organisation or a
    member who is not one of its. Recorded as an admin action with its reason."""
    membership, created = await suspension.appoint_coordinator(
        session, organization_id=organization_id, data=data, actor_id=admin.id
    )
    response.status_code = 201 if created else 200
    if created:
        response.headers["Location"] = f"/v1/organizations/{organization_id}/members/{membership.member_id}"
    return MembershipPublic.model_validate(membership, from_attributes=True)
