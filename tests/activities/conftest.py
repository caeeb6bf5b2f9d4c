"""A recording stand-in for the activities hooks (blocks and notifications are built elsewhere)."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from app.activities import hooks


@dataclass
class FakeHooks:
    """Records every call; `blocked` holds (host, member) pairs that may not meet."""

    told: list[tuple[str, list[str], str]] = field(default_factory=list)
    asked: list[tuple[str, str]] = field(default_factory=list)
    blocked: set[tuple[str, str]] = field(default_factory=set)

    async def may_meet(self, session: AsyncSession, *, host_id: uuid.UUID, member_id: uuid.UUID) -> bool:
        self.asked.append((str(host_id), str(member_id)))
        return (str(host_id), str(member_id)) not in self.blocked

    async def tell(
        self,
        session: AsyncSession,
        *,
        activity_id: uuid.UUID,
        member_ids: list[uuid.UUID],
        change: hooks.Change,
    ) -> None:
        self.told.append((str(activity_id), [str(m) for m in member_ids], str(change)))


@pytest.fixture
def fake_hooks() -> Iterator[FakeHooks]:
    fake = FakeHooks()
    connected = hooks.hooks()  # the real answers (blocks, notifications): put back afterwards
    hooks.connect(hooks.ActivityHooks(may_meet=fake.may_meet, tell=fake.tell))
    try:
        yield fake
    finally:
        hooks.connect(connected)
