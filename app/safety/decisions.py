"""Telling the people of a report that it was decided (notifications), in the resolving transaction."""

from sqlmodel.ext.asyncio.session import AsyncSession

from app.notifications import service as notifications
from app.safety.reporting import Action, Report


async def tell_parties(session: AsyncSession, report: Report) -> None:
    """`report.resolved` to the reporter (the outcome), and to the member the report was about
    unless it was dismissed (the decision; its statement of reasons is theirs to read at
    `GET /v1/reports/{id}`). The notification carries ids and the action only: a statement is
    free text, and notifications reach mail and lock screens. Neither learns who the other is."""
    data = {
        "report_id": str(report.id),
        "subject_type": report.subject_type,
        "subject_id": str(report.subject_id),
        "action": report.action,
    }
    await notifications.notify(
        session,
        recipients=[report.reporter_id],
        type="report.resolved",
        data={**data, "role": "reporter"},
        actor=report.resolved_by,
    )
    if report.action != Action.dismiss:
        await notifications.notify(
            session,
            recipients=[report.subject_member_id],
            type="report.resolved",
            data={**data, "role": "subject"},
            actor=report.resolved_by,
        )
