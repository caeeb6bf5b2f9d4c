"""The events a receiver gets, in the OpenAPI document's `webhooks` section (shown in /docs)."""

from fastapi import FastAPI, Header

from app.webhooks.models import EventPayload, EventType

_HEADERS = """Sent by the delivery worker to every endpoint subscribed to `{event}`, following
[Standard Webhooks](https://www.standardwebhooks.com/): `webhook-id` (the event's id, the same
on every retry: deduplicate on it), `webhook-timestamp` (Unix seconds of this attempt) and
`webhook-signature` (`v1,<base64 HMAC-SHA256>` of `id.timestamp.body` with the endpoint's
secret). Any 2xx acknowledges it; 410 Gone disables the endpoint; anything else, a timeout or
no connection is retried with backoff. Redirects are not followed."""


async def receive(
    body: EventPayload,
    webhook_id: str = Header(alias="webhook-id"),
    webhook_timestamp: str = Header(alias="webhook-timestamp"),
    webhook_signature: str = Header(alias="webhook-signature"),
) -> None:
    """Implemented by the receiver, not by this API."""


def document_webhooks(app: FastAPI) -> None:
    for event in EventType:
        app.webhooks.add_api_route(
            str(event),
            receive,
            methods=["POST"],
            name=f"webhook_{event.name}",
            summary=str(event),
            description=_HEADERS.format(event=event),
            tags=["webhooks"],
            status_code=204,
            generate_unique_id_function=lambda route: route.name,
        )
