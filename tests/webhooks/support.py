"""A real HTTP receiver on 127.0.0.1, and helpers that drive the delivery worker in tests."""

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from fastapi import FastAPI
from sqlmodel import col, func, select

from app.core.config import Settings
from app.webhooks.delivery import make_client
from app.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEvent
from app.webhooks.worker import run_once
from tests.factories import Member, organization

ALL_EVENTS = [
    "need.created",
    "need.updated",
    "need.cancelled",
    "match.proposed",
    "match.accepted",
    "match.declined",
    "match.completed",
    "match.cancelled",
    "activity.created",
    "activity.updated",
    "activity.cancelled",
]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 204
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class Receiver:
    """Records every request; `plan(n)` says how to answer the n-th (0-based)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.plan: Callable[[int], Reply] = lambda n: Reply()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    n = len(receiver.requests)
                    receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
                reply = receiver.plan(n)
                time.sleep(reply.delay)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # a worker pass connects many times at once

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/mutual-aid"
        # A short poll keeps shutdown (which waits for the next poll) quick.
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def subscribe(
    client: httpx.AsyncClient, coordinator: Member, org: str, url: str, events: list[str] | None = None
) -> dict[str, Any]:
    r = await client.post(
        f"/v1/organizations/{org}/webhooks",
        json={"url": url, "events": events or ALL_EVENTS},
        headers=coordinator.headers,
    )
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def org_with_webhook(
    client: httpx.AsyncClient, coordinator: Member, url: str, events: list[str] | None = None
) -> tuple[str, dict[str, Any]]:
    org = (await organization(client, coordinator))["id"]
    return org, await subscribe(client, coordinator, org, url, events)


async def pending(app: FastAPI) -> int:
    async with app.state.sessionmaker() as session:
        stmt = select(func.count()).where(col(WebhookDelivery.status) == DeliveryStatus.pending)
        return int((await session.exec(stmt)).one())


def worker_settings(app: FastAPI, **changes: Any) -> Settings:
    """The app's settings with some changed: a worker configured apart from the API."""
    settings: Settings = app.state.settings.model_copy(update=changes)
    return settings


async def drain(app: FastAPI, *, settings: Settings | None = None, passes: int = 400, **kwargs: Any) -> int:
    """Worker passes until nothing is pending; how many attempts were made."""
    settings = settings or app.state.settings
    total = 0
    async with make_client(settings) as client:
        for _ in range(passes):
            done = await run_once(app.state.sessionmaker, settings, client, **kwargs)
            total += done
            if done == 0:
                if await pending(app) == 0:
                    return total
                await asyncio.sleep(0.01)
    raise AssertionError("deliveries were still pending after every pass")


async def one_pass(app: FastAPI, *, settings: Settings | None = None, **kwargs: Any) -> int:
    settings = settings or app.state.settings
    async with make_client(settings) as client:
        return await run_once(app.state.sessionmaker, settings, client, **kwargs)


async def deliveries(app: FastAPI) -> list[WebhookDelivery]:
    async with app.state.sessionmaker() as session:
        stmt = select(WebhookDelivery).order_by(col(WebhookDelivery.created_at), col(WebhookDelivery.id))
        return list((await session.exec(stmt)).all())


async def events(app: FastAPI) -> list[WebhookEvent]:
    async with app.state.sessionmaker() as session:
        stmt = select(WebhookEvent).order_by(col(WebhookEvent.created_at), col(WebhookEvent.id))
        return list((await session.exec(stmt)).all())
