"""What the match lifecycle asks of dispatch, which sits above it: may this pair match now, and how well.

Dispatch holds the engine's facts and context loading; matches must not import it (every arrow
points down), so `app.main.create_app` connects dispatch's judge here once.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from app.matches.models import Match
from app.needs.models import Need
from app.offers.models import Offer


@dataclass(frozen=True)
class Verdict:
    failure: str | None  # the first hard filter the pair fails (a rule's name); None when eligible
    score: float  # in [0, 1]; 0.0 when the pair fails


class Judge(Protocol):
    async def __call__(
        self, session: AsyncSession, need: Need, offer: Offer, now: datetime, *, existing: Match | None
    ) -> Verdict: ...


_connected: list[Judge] = []


def connect(judge: Judge) -> None:
    _connected[:] = [judge]


def judge() -> Judge:
    if not _connected:
        raise RuntimeError("No pair judge connected: app.main.create_app connects dispatch's.")
    return _connected[0]
