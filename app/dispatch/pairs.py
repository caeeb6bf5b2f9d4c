"""One pair judged as every search judges pairs: for a match being claimed, proposed or accepted."""

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from app.dispatch import loading
from app.matches.hooks import Verdict
from app.matches.models import Match
from app.matching.rules import first_failure
from app.matching.scoring import score
from app.needs.models import Need
from app.offers.models import Offer


async def judge(
    session: AsyncSession, need: Need, offer: Offer, now: datetime, *, existing: Match | None = None
) -> Verdict:
    """The first filter the pair fails, or its score; `existing` is the match being accepted."""
    facts_need, facts_offer = loading.need_facts(need, now), loading.offer_facts(offer)
    ctx = await loading.context(
        session,
        now=now,
        volunteer_ids=[offer.volunteer_id],
        requester_ids=[need.requester_id],
        need_ids=[need.id],
    )
    if existing is not None:  # the match being accepted does not count against itself
        ctx.active_pairs.discard((existing.need_id, existing.offer_id))
        ctx.active_volunteers.discard((existing.need_id, existing.volunteer_id))
    failure = first_failure(facts_need, facts_offer, ctx)
    if failure is not None:
        return Verdict(failure, 0.0)
    return Verdict(None, score(facts_need, facts_offer, ctx).score)
