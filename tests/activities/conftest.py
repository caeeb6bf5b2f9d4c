"""A recording stand-in for the activities hooks (notifications are built elsewhere)."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from app.activities import hooks


@dataclass
class FakeHooks:
    """Records every change told."""

    told: list[tuple[str, list[str], str]] = field(default_factory=list)

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
    connected = hooks.hooks()  # the real answer (notifications): put back afterwards
    hooks.connect(hooks.ActivityHooks(tell=fake.tell))
    try:
        yield fake
    finally:
        hooks.connect(connected)
