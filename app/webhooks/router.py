"""HTTP routes for an organisation's webhook endpoints and their delivery logs."""

import uuid

from fastapi import APIRouter, Response

from app.auth.deps import AnyCaller, organization_agent
from app.core.deps import SessionDep, SettingsDep
from app.core.encryption import key_ring
from app.core.errors import problems
from app.core.pagination import Cursor, Limit, Page
from app.idempotency.replays import replayed_by, while_organization_agent
from app.organizations.models import Scope
from app.webhooks import service
from app.webhooks.models import (
    AttemptPublic,
    DeliveryPublic,
    DeliveryStatus,
    WebhookCreate,
    WebhookCreated,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookPublic,
)

router = APIRouter(prefix="/organizations/{organization_id}/webhooks", tags=["webhooks"])
MANAGE = Scope.webhooks_manage


def _public(endpoint: WebhookEndpoint) -> WebhookPublic:
    return WebhookPublic.of(endpoint)


def _delivery(row: WebhookDelivery) -> DeliveryPublic:
    return DeliveryPublic.model_validate(
        {**row.model_dump(), "attempt_log": [AttemptPublic.model_validate(a) for a in row.attempt_log]}
    )


@router.post("", status_code=201, response_model=WebhookCreated, responses=problems(401, 403, 404, 409, 422))
@replayed_by(while_organization_agent)
async def create_webhook(
    organization_id: uuid.UUID,
    data: WebhookCreate,
    caller: AnyCaller,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
) -> WebhookCreated:
    """Subscribe a URL to events of this organisation's needs and matches. Deliveries follow
    Standard Webhooks, signed with the `secret`, which is shown in this response only."""
    organization_agent(caller, organization_id, MANAGE)
    endpoint, secret = await service.create_endpoint(
        session,
        organization_id=organization_id,
        caller=caller,
        data=data,
        allow_private=settings.webhook_allow_private_targets,
        keys=key_ring(settings),
    )
    response.headers["Location"] = f"/v1/organizations/{organization_id}/webhooks/{endpoint.id}"
    return WebhookCreated.model_validate({**_public(endpoint).model_dump(), "secret": secret})


@router.get("", response_model=list[WebhookPublic], responses=problems(401, 403, 404, 422))
async def list_webhooks(
    organization_id: uuid.UUID, caller: AnyCaller, session: SessionDep
) -> list[WebhookPublic]:
    """This organisation's endpoints, newest first; never a secret."""
    organization_agent(caller, organization_id, MANAGE)
    return [_public(e) for e in await service.list_endpoints(session, organization_id=organization_id)]


@router.get("/{webhook_id}", response_model=WebhookPublic, responses=problems(401, 403, 404, 422))
async def get_webhook(
    organization_id: uuid.UUID, webhook_id: uuid.UUID, caller: AnyCaller, session: SessionDep
) -> WebhookPublic:
    organization_agent(caller, organization_id, MANAGE)
    return _public(
        await service.get_endpoint(session, organization_id=organization_id, endpoint_id=webhook_id)
    )


@router.delete("/{webhook_id}", status_code=204, responses=problems(401, 403, 404, 422))
async def delete_webhook(
    organization_id: uuid.UUID, webhook_id: uuid.UUID, caller: AnyCaller, session: SessionDep
) -> Response:
    """Unsubscribe: nothing more is sent, and the endpoint's delivery log goes with it."""
    organization_agent(caller, organization_id, MANAGE)
    await service.delete_endpoint(session, organization_id=organization_id, endpoint_id=webhook_id)
    return Response(status_code=204)


@router.get(
    "/{webhook_id}/deliveries", response_model=Page[DeliveryPublic], responses=problems(401, 403, 404, 422)
)
async def list_webhook_deliveries(
    organization_id: uuid.UUID,
    webhook_id: uuid.UUID,
    caller: AnyCaller,
    session: SessionDep,
    status: DeliveryStatus | None = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Page[DeliveryPublic]:
    """What was sent to this endpoint, newest first, with the outcome of every attempt."""
    organization_agent(caller, organization_id, MANAGE)
    rows, next_cursor = await service.list_deliveries(
        session,
        organization_id=organization_id,
        endpoint_id=webhook_id,
        status=status,
        limit=limit,
        cursor=cursor,
    )
    return Page[DeliveryPublic](items=[_delivery(r) for r in rows], next_cursor=next_cursor)
