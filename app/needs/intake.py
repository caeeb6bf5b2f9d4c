"""Partners' bulk intake: many needs in one request, each judged on its own."""

import uuid
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.callers import Caller
from app.core.config import TrustLimits
from app.core.errors import DomainError, FieldError, Problem, clean_validation_errors, problem_body
from app.core.series import Limits
from app.core.timeutil import utcnow
from app.core.transactions import savepoint
from app.needs import quota, service
from app.needs.models import Need, NeedCreate
from app.safety.catalogue import Catalogue
from app.safety.models import RESOURCES_DESCRIPTION, CrisisResource
from app.webhooks import service as webhooks

MAX_ITEMS = 500


class BatchRequest(BaseModel):
    items: list[Any] = Field(min_length=1, max_length=MAX_ITEMS, description="Need create bodies.")


class BatchResult(BaseModel):
    index: int
    status: int = Field(
        description="201 created, 409 duplicate external_id (id is the existing need), 422 invalid, "
        "429 a member's own need beyond their day's limit (docs/safety.md)."
    )
    id: uuid.UUID | None = None
    error: Problem | None = None
    resources: list[CrisisResource] = Field(
        default_factory=list,
        description=f"Created items only. {RESOURCES_DESCRIPTION} Here the author is the partner, "
        "who passes them on to the person the need was filed for.",
    )


class BatchResponse(BaseModel):
    results: list[BatchResult]


def _failure(index: int, exc: ValidationError | DomainError) -> BatchResult:
    where = ("body", "items", index)
    if isinstance(exc, ValidationError):
        errors = clean_validation_errors(list(exc.errors()), where)
        return BatchResult(
            index=index,
            status=422,
            error=problem_body(
                422, "The item is invalid; see `errors`.", slug="validation-error", errors=errors
            ),
        )
    errors = [
        FieldError(loc=[*where, *e.loc[1:]], msg=e.msg, type=e.type) for e in getattr(exc, "errors", [])
    ]
    existing = exc.extra.get("existing_id")
    return BatchResult(
        index=index,
        status=exc.status,
        id=uuid.UUID(existing) if existing else None,
        error=problem_body(exc.status, exc.detail, slug=exc.slug, errors=errors or None, **exc.extra),
    )


async def _validate(
    session: AsyncSession, caller: Caller, items: list[Any], limits: TrustLimits | None, recurring: Limits
) -> tuple[dict[int, BatchResult], list[tuple[int, NeedCreate, uuid.UUID | None]]]:
    """Items that may be created, and the results of those that may not: invalid (422), or a
    member's own beyond their day's allowance (429; their organisation's intake is never counted)."""
    failed: dict[int, BatchResult] = {}
    valid = []
    allowance: quota.Allowance | None = None
    for index, raw in enumerate(items):
        try:
            data = NeedCreate.model_validate(raw)
            organization_id = await service.owning_organization(session, caller, data.organization_id)
            service.check_create(data, organization_id, caller, recurring)
            if limits is not None and quota.counted(caller, organization_id):
                if allowance is None:
                    allowance = await quota.allowance(session, caller=caller, limits=limits, now=utcnow())
                allowance.take()
            valid.append((index, data, organization_id))
        except (ValidationError, DomainError) as exc:
            failed[index] = _failure(index, exc)
    return failed, valid


def _insert_order(org: uuid.UUID | None, external_id: str | None, index: int) -> tuple[str, str, int]:
    return (str(org or ""), external_id or "", index)


async def create_batch(
    session: AsyncSession,
    *,
    caller: Caller,
    items: list[Any],
    limits: TrustLimits | None,
    recurring: Limits,
) -> list[BatchResult]:
    """Create every valid item in one transaction; bad or duplicate items spoil no other."""
    results, valid = await _validate(session, caller, items, limits, recurring)
    taken: dict[tuple[uuid.UUID | None, str], uuid.UUID] = {}
    for org in {org for _, _, org in valid}:
        wanted = [d.external_id for _, d, o in valid if o == org and d.external_id is not None]
        taken.update({(org, ext): i for ext, i in (await service.existing_ids(session, org, wanted)).items()})
    fresh: list[tuple[int, Need]] = []
    for index, data, org in valid:
        slot = (org, data.external_id or "")
        if data.external_id is not None and slot in taken:
            results[index] = _failure(index, service.duplicate(taken[slot]))
            continue
        need = service.new_need(caller, org, data, recurring)
        if data.external_id is not None:
            taken[slot] = need.id
        fresh.append((index, need))
    # Inserted in (organisation, external id) order, whatever the request's order: two batches
    # naming the same ids in other orders would otherwise each wait on the other's unique-index
    # entry (a deadlock, answered 503), where in one order the second simply finds them taken.
    # Events and alerts still follow the request's order.
    inserts = sorted(
        fresh, key=lambda item: _insert_order(item[1].organization_id, item[1].external_id, item[0])
    )
    try:
        async with savepoint(session):
            session.add_all([need for _, need in inserts])
            await webhooks.emit(session, [service.created_event(need) for _, need in fresh])
        results.update({i: BatchResult(index=i, status=201, id=need.id) for i, need in fresh})
    except IntegrityError:
        # Another request took one of the external ids meanwhile: settle every valid item again,
        # one by one (in-batch duplicates too: the sibling they pointed at was rolled back).
        for index, data, _ in sorted(valid, key=lambda v: _insert_order(v[2], v[1].external_id, v[0])):
            try:
                results[index] = BatchResult(
                    index=index,
                    status=201,
                    # Counted already, in `_validate`: this settles the same items again.
                    id=(
                        await service.create_need(
                            session, caller=caller, data=data, limits=None, recurring=recurring
                        )
                    ).id,
                )
            except DomainError as exc:
                results[index] = _failure(index, exc)
    else:
        # As one need's creation does (create_need did it for each one settled above).
        await service.announce_created(session, needs=[need for _, need in fresh], caller=caller)
    return [results[i] for i in range(len(items))]


async def attach_crisis_resources(
    session: AsyncSession, catalogue: Catalogue, *, caller: Caller, results: list[BatchResult]
) -> None:
    """Crisis resources on each created item whose text reads as a crisis (app/safety), read from
    the need as created (in the session already: no query), never stored."""
    for result in results:
        need = await session.get(Need, result.id) if result.status == 201 and result.id else None
        if need is not None:
            result.resources = await service.crisis_resources(catalogue, need=need, caller=caller)
