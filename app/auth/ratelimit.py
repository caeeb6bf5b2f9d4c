"""Rate limits per caller with the `limits` library: Redis when configured, memory otherwise."""

import asyncio
import bisect
import contextlib
import math
import time

import limits
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from app.core.config import Settings
from app.core.errors import DomainError


class TooManyRequests(DomainError):
    status, slug = 429, "rate-limited"


class SweptMemoryStorage(MemoryStorage):
    """`limits`' in-process storage, swept of expired entries at most once a second, in the
    event loop.

    The library's own sweep starts again on every hit once the last one has finished, and hands
    each caller's list to a worker thread to bisect: a thread hand-off (and the GIL's ping-pong
    with it) on nearly every request, which cost an anonymous read more than its own work. A
    sweep only frees memory, as limits are decided from the entries' times: entries older than
    the window are ignored whether or not they are gone yet, so sweeping less often changes no
    answer. One pass over every caller's list is a bisect each, microseconds, without awaiting:
    no other coroutine can touch a list meanwhile, so it needs none of the per-key locks."""

    SWEEP_SECONDS = 1.0

    def __init__(self) -> None:
        super().__init__()
        self._swept = 0.0

    # Replaces the private scheduler that MemoryStorage's methods call on every hit.
    async def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now - self._swept < self.SWEEP_SECONDS:
            return
        self._swept = now
        self.sweep()

    def sweep(self) -> None:
        """Drop expired entries and counters, and the keys left empty."""
        now = time.time()
        for key, entries in list(self.events.items()):
            # Newest first: the entries still alive are a prefix.
            kept = entries[: bisect.bisect_left(entries, -now, key=lambda entry: -entry.expiry)]
            if kept:
                self.events[key] = kept
            else:
                self.events.pop(key, None)
                self.locks.pop(key, None)
        for key, expires in list(self.expirations.items()):
            if expires <= now:
                self.storage.pop(key, None)
                self.expirations.pop(key, None)
                self.locks.pop(key, None)


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        storage: Storage
        if settings.redis_url:
            uri = settings.redis_url.replace("redis://", "async+redis://", 1)
            storage = RedisStorage(uri, key_prefix=settings.rate_limit_prefix)
        else:
            storage = SweptMemoryStorage()
        self.storage = storage
        self._strategy = MovingWindowRateLimiter(storage)
        self._prefix = settings.rate_limit_prefix
        self.per_member = limits.parse(settings.rate_limit_member)
        self.per_key = limits.parse(settings.rate_limit_key)
        self.per_anonymous = limits.parse(settings.rate_limit_anonymous)
        self.auth_failures = limits.parse(settings.rate_limit_auth_failures)
        self.reports = limits.parse(settings.rate_limit_reports)
        self.reset_mail = limits.parse(settings.rate_limit_reset_mail)

    async def aclose(self) -> None:
        """Stop the in-memory expiry task, so shutting down leaves no task behind that would run
        after the event loop's executor is gone."""
        timer = self.storage.timer if isinstance(self.storage, MemoryStorage) else None
        if timer is not None and not timer.done():
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer

    async def hit(self, item: limits.RateLimitItem, identity: str) -> dict[str, str]:
        """Count one request; the RateLimit headers to send, or a 429 problem when over budget."""
        allowed = await self._strategy.hit(item, self._prefix, identity)
        return await self._headers(item, identity, allowed)

    async def daily(self, amount: int, identity: str, what: str) -> None:
        """Count one of `what` against a budget of `amount` in any 24 hours (a trust limit on
        something no table stores); 429 with Retry-After once it is spent."""
        item = limits.RateLimitItemPerDay(amount)
        if not await self._strategy.hit(item, self._prefix, identity):
            stats = await self._strategy.get_window_stats(item, self._prefix, identity)
            wait = max(1, math.ceil(stats.reset_time - time.time()))
            raise TooManyRequests(
                f"You may list {what} at most {amount} times in 24 hours; retry after {wait} s.",
                headers={"Retry-After": str(wait)},
            )

    async def allow(self, item: limits.RateLimitItem, identity: str) -> bool:
        """Count one; whether it was within budget (for callers that must not answer 429)."""
        return bool(await self._strategy.hit(item, self._prefix, identity))

    async def check(self, item: limits.RateLimitItem, identity: str) -> None:
        """Refuse, without counting, when the budget is already spent."""
        if not await self._strategy.test(item, self._prefix, identity):
            await self._headers(item, identity, allowed=False)

    async def _headers(self, item: limits.RateLimitItem, identity: str, allowed: bool) -> dict[str, str]:
        stats = await self._strategy.get_window_stats(item, self._prefix, identity)
        reset = max(1, math.ceil(stats.reset_time - time.time()))
        headers = {
            "RateLimit-Limit": str(item.amount),
            "RateLimit-Remaining": str(max(0, stats.remaining)),
            "RateLimit-Reset": str(reset),
        }
        if not allowed:
            raise TooManyRequests(
                f"Rate limit of {item} exceeded; retry after {reset} s.",
                headers={**headers, "Retry-After": str(reset)},
            )
        return headers
