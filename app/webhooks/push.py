"""One Web Push attempt: the payload encrypted to the browser's keys (RFC 8291, aes128gcm) and the
request signed with VAPID (RFC 8292), both by pywebpush, then POSTed to the push service through
the same address-checked client as webhooks (app.webhooks.delivery.attempt), so a subscription
can never make the worker reach a private or loopback address.

pywebpush's own senders (requests, aiohttp) are not used: they would connect wherever DNS points
at that moment, past the check (app.webhooks.targets)."""

import time
import uuid
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from app.core.config import Settings
from app.webhooks.delivery import Outcome, attempt
from app.webhooks.vapid import VapidKeys

# RFC 8030 8.3 and 7.3: the subscription has expired or was never valid; never try it again.
GONE = frozenset({404, 410})
# The request itself is refused (a malformed message, a VAPID key the subscription was not made
# with, a payload over 4 KiB): sending it again gets the same answer.
REFUSED = frozenset({400, 401, 403, 413})
# How long a VAPID token stays valid (RFC 8292 2: at most 24 hours).
TOKEN_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Push:
    """A claimed push: the message and the subscription it goes to."""

    subscription_id: uuid.UUID
    endpoint: str
    p256dh: str
    auth: str
    payload: dict[str, Any]


def audience(endpoint: str) -> str:
    """VAPID's `aud`: the push service's origin (RFC 8292 2)."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


def prepare(push: Push, keys: VapidKeys, settings: Settings) -> tuple[dict[str, str], bytes]:
    """The headers and encrypted body of the POST to the push service."""
    # Imported here, by the process that sends (the worker), not by every web worker: pywebpush
    # brings aiohttp and requests with it, never used here (above): about 11 MB of each API
    # worker's memory and 0.1 s of its start-up.
    from pywebpush import WebPusher

    pusher = WebPusher({"endpoint": push.endpoint, "keys": {"p256dh": push.p256dh, "auth": push.auth}})
    body: bytes = pusher.encode(orjson.dumps(push.payload), content_encoding="aes128gcm")["body"]
    claims = {
        "sub": settings.push_subject,
        "aud": audience(push.endpoint),
        "exp": int(time.time()) + TOKEN_SECONDS,
    }
    headers: dict[str, str] = {
        **keys.signer().sign(claims),
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
        "TTL": str(settings.push_ttl_seconds),
        "Urgency": "normal",
    }
    return headers, body


async def send_push(client: httpx.AsyncClient, push: Push, keys: VapidKeys, settings: Settings) -> Outcome:
    """Send once; never raises. 2xx is delivered; 404 and 410 (expired: the worker removes the
    subscription) and a refused request are permanent; 429, 5xx and network failures are
    retried with backoff."""
    try:
        headers, body = prepare(push, keys, settings)
    except Exception as exc:  # keys that decode but that the library cannot use
        return Outcome(
            status_code=None,
            error=f"Could not encrypt ({type(exc).__name__}).",
            duration_ms=0.0,
            permanent=True,
        )
    outcome = await attempt(client, url=push.endpoint, headers=headers, body=body, settings=settings)
    if outcome.status_code in GONE or outcome.status_code in REFUSED:
        return replace(outcome, permanent=True)
    return outcome
