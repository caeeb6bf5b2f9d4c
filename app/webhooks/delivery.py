"""One delivery attempt: sign with Standard Webhooks, POST to a checked address, classify the outcome."""

import random
import time
from dataclasses import dataclass
from datetime import datetime

import anyio
import httpx
from standardwebhooks import Webhook

from app.core.config import Settings
from app.webhooks.targets import TargetRefused, resolve

USER_AGENT = "mutual-aid-webhooks/1"


def backoff_seconds(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Full jitter: after failed attempt n, wait uniformly in [0, min(cap, base * 2**(n-1))].

    Spreading retries over the whole window keeps a recovering receiver from being hit by
    every sender's retries at the same instant."""
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 62))
    return rng.random() * ceiling


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: float
    # Retrying cannot help (a mail server's 5xx): the delivery fails now.
    permanent: bool = False

    @property
    def delivered(self) -> bool:
        # A receiver's 2xx; a mail server's 250 (accepted for delivery) is one too.
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410


def make_client(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=settings.webhook_timeout_seconds,
        follow_redirects=False,  # a redirect could point anywhere, past the address check
        trust_env=False,  # a proxy from the environment would connect where we did not check
        # No pooled connections: each request is pinned to an address checked just before, and a
        # pooled TLS connection to one host must never carry another host's request.
        limits=httpx.Limits(max_keepalive_connections=0),
        headers={"User-Agent": USER_AGENT},
    )


def signed_headers(*, secret: str, message_id: str, body: bytes, at: datetime) -> dict[str, str]:
    signature = Webhook(secret).sign(message_id, at, body.decode())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


async def _post(
    client: httpx.AsyncClient, url: httpx.URL, headers: dict[str, str], body: bytes, *, allow_private: bool
) -> int:
    port = url.port or (443 if url.scheme == "https" else 80)
    target = await resolve(url.raw_host.decode("ascii"), port, allow_private=allow_private)
    pinned = url.copy_with(host=target.address)
    name = f"[{target.host}]" if ":" in target.host else target.host
    host_header = name if url.port is None else f"{name}:{url.port}"
    async with client.stream(
        "POST",
        pinned,
        content=body,
        headers={**headers, "Host": host_header},
        # TLS checks the certificate against the name, though the connection goes to the address.
        extensions={"sni_hostname": target.host},
    ) as response:
        return response.status_code  # the body is never read: it could be anything, of any size


async def attempt(
    client: httpx.AsyncClient, *, url: str, headers: dict[str, str], body: bytes, settings: Settings
) -> Outcome:
    """POST once, within the timeout end to end (DNS included); never raises for the receiver's faults."""
    started = time.perf_counter()
    timeout = settings.webhook_timeout_seconds
    status: int | None = None
    error: str | None = None
    try:
        with anyio.fail_after(timeout):
            status = await _post(
                client, httpx.URL(url), headers, body, allow_private=settings.webhook_allow_private_targets
            )
    except TargetRefused:
        error = "The host is or resolves to a non-public address; not sent."
    except (TimeoutError, httpx.TimeoutException):
        error = f"No answer within {timeout:g} s."
    except httpx.ConnectError:
        error = "Could not connect to the receiver."
    except httpx.HTTPError as exc:
        error = f"The request failed ({type(exc).__name__})."
    except (OSError, ValueError):
        error = "The host name could not be resolved."
    if status is not None and not 200 <= status < 300:
        error = f"The receiver answered {status}." + (
            " Redirects are not followed." if 300 <= status < 400 else ""
        )
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    return Outcome(status_code=status, error=error, duration_ms=elapsed_ms)
