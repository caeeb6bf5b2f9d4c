"""Recording and listing exposures of needs' exact locations and contacts."""

import uuid
from collections.abc import Iterable
from typing import Protocol

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit.models import AuditEntry, AuditEvent, Reason
from app.auth.callers import Caller
from app.core.crud import newest_first, page_of


class Need(Protocol):
    """What an exposure records of a need (a needs.models.Need): audit sits below needs, which
    record their exposures here, so it names the fields it reads instead of importing the model."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def requester_id(self) -> uuid.UUID | None: ...
    @property
    def organization_id(self) -> uuid.UUID | None: ...
    @property
    def lat(self) -> float | None: ...
    @property
    def address(self) -> str | None: ...
    @property
    def contact_name(self) -> str | None: ...


def _exposed_fields(need: Need) -> list[str]:
    shown = [("location", need.lat), ("address", need.address), ("contact", need.contact_name)]
    return [name for name, value in shown if value is not None]


def _reason(caller: Caller, organization_id: uuid.UUID | None) -> Reason:
    if caller.key_id is not None:
        return Reason.api_key
    if caller.acts_for(organization_id):
        return Reason.coordinator
    return Reason.participant


def _event(
    caller: Caller,
    *,
    need_id: uuid.UUID,
    subject: uuid.UUID | None,
    organization_id: uuid.UUID | None,
    fields: list[str],
) -> AuditEvent:
    name = caller.name
    return AuditEvent(
        need_id=need_id,
        subject_member_id=subject,
        organization_id=organization_id,
        actor_member_id=caller.member_id,
        actor_key_id=caller.key_id,
        actor_name=name,
        fields=fields,
        reason=_reason(caller, organization_id),
    )


def exposures(caller: Caller, needs: Iterable[Need]) -> list[AuditEvent]:
    """Rows for the needs whose private fields this caller, not the requester, is being shown."""
    events = []
    for need in needs:
        fields = _exposed_fields(need)
        if not fields or (caller.member_id is not None and caller.member_id == need.requester_id):
            continue
        events.append(
            _event(
                caller,
                need_id=need.id,
                subject=need.requester_id,
                organization_id=need.organization_id,
                fields=fields,
            )
        )
    return events


async def record(session: AsyncSession, *, caller: Caller, needs: Iterable[Need]) -> None:
    """Write the exposure rows in the read's own transaction, flushed before the response is
    built: no row, no private fields (the request's commit keeps both, or neither)."""
    await add_events(session, exposures(caller, needs))


async def add_events(session: AsyncSession, events: list[AuditEvent]) -> None:
    """Flush the rows now, in one batched INSERT, so a failure fails the read that shows them."""
    if events:
        session.add_all(events)
        await session.flush()


def render(event: AuditEvent, *, for_subject: bool = False) -> AuditEntry:
    if for_subject and event.reason == Reason.participant and event.fields == ["phone"]:
        # A volunteer learns that the person they help saw their phone, not who that person is:
        # the participant view keeps the requester's identity back, and so does this.
        actor: dict[str, object] = {"kind": "need_owner", "id": None, "name": "the person you are helping"}
    elif event.actor_key_id is not None:
        actor = {"kind": "api_key", "id": event.actor_key_id, "name": event.actor_name}
    else:
        actor = {"kind": "member", "id": event.actor_member_id, "name": event.actor_name}
    return AuditEntry.model_validate({**event.model_dump(), "actor": actor})


async def list_events(
    session: AsyncSession,
    *,
    subject_member_id: uuid.UUID | None = None,
    organization_id: uuid.UUID | None = None,
    limit: int,
    cursor: str | None,
) -> tuple[list[AuditEvent], str | None]:
    stmt = select(AuditEvent)
    if subject_member_id is not None:
        stmt = stmt.where(col(AuditEvent.subject_member_id) == subject_member_id)
    if organization_id is not None:
        stmt = stmt.where(col(AuditEvent.organization_id) == organization_id)
    return page_of(
        (await session.exec(newest_first(stmt, AuditEvent, cursor, limit, at="at"))).all(), limit, at="at"
    )


def contact_event(
    caller: Caller,
    *,
    need_id: uuid.UUID,
    organization_id: uuid.UUID | None,
    member_id: uuid.UUID | None,
    field: str = "contact",
) -> AuditEvent | None:
    """The row for a party's contact shown to the other side of an accepted match: the need's
    `contact`, or the volunteer's `phone`; none when callers see their own."""
    if caller.member_id is not None and caller.member_id == member_id:
        return None
    return _event(caller, need_id=need_id, subject=member_id, organization_id=organization_id, fields=[field])
