"""Turning rows into matching facts, and loading the context that scoring needs."""

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.timeutil import utcnow
from app.matches.models import ACTIVE, Match, MatchStatus
from app.matching.facts import Context, NeedFacts, OfferFacts, category_bit, mode_bit, slots_from
from app.members.models import Member
from app.members.suspension import suspended_among, suspended_now
from app.needs import occurrences
from app.needs.models import Need
from app.offers.models import Offer, OfferStatus
from app.organizations.models import Membership, Organization
from app.safety import blocks


def need_facts(need: Any, now: datetime | None = None) -> NeedFacts:
    """From a Need, or from any row with the same column names (batch runs read Core rows).

    A recurring need's window is its next open occurrence at `now` (default: the clock): the one
    place matching learns which occurrence availability is checked against."""
    window_start, window_end = need.window_start, need.window_end
    if occurrences.recurs(need):
        upcoming = occurrences.next_open(need, now or utcnow())
        if upcoming is not None:
            window_start, window_end = upcoming
    return NeedFacts(
        id=need.id,
        requester_id=need.requester_id,
        organization_id=need.organization_id,
        category_bit=category_bit(need.category),
        mode_bit=mode_bit(need.mode),
        lat=need.approx_lat,
        lon=need.approx_lon,
        max_distance_km=need.max_distance_km,
        languages=frozenset(need.languages),
        requirements_mask=need.requirements_mask,
        window_start=window_start,
        window_end=window_end,
        urgency=need.urgency,
        created_at=need.created_at,
    )


def offer_facts(offer: Any, display_name: str = "") -> OfferFacts:
    """From an Offer, or from any row with the same column names (candidate pools read Core rows)."""
    return OfferFacts(
        id=offer.id,
        volunteer_id=offer.volunteer_id,
        organization_id=offer.organization_id,
        categories_mask=offer.categories_mask,
        modes_mask=offer.modes_mask,
        lat=offer.approx_lat,
        lon=offer.approx_lon,
        max_distance_km=offer.max_distance_km,
        slots=slots_from(offer.availability),
        timezone=offer.timezone,
        capacity=offer.capacity,
        active_matches=offer.active_matches,
        languages=frozenset(offer.languages),
        capabilities_mask=offer.capabilities_mask,
        active=offer.status == OfferStatus.active,
        display_name=display_name,
    )


async def context(
    session: AsyncSession,
    *,
    now: datetime,
    volunteer_ids: Iterable[uuid.UUID],
    requester_ids: Iterable[uuid.UUID | None],
    need_ids: Iterable[uuid.UUID] = (),
) -> Context:
    """Vetting, shared history, active pairs and suspensions for these people and needs (a pair
    being judged, or one volunteer's opportunities: few people, so only theirs are read; a batch
    run reads every suspended member at once, `run_context`)."""
    ctx = Context(now=now)
    volunteers = list(volunteer_ids)
    ctx.requesters = frozenset(r for r in requester_ids if r is not None)
    needs = list(set(need_ids))
    if needs:
        pairs = (
            await session.exec(
                select(Match.need_id, Match.offer_id, Match.volunteer_id).where(
                    col(Match.need_id).in_(needs), col(Match.status).in_(ACTIVE)
                )
            )
        ).all()
        ctx.active_pairs = {(n, o) for n, o, _ in pairs}
        ctx.active_volunteers = {(n, v) for n, _, v in pairs}
    ctx.verifying = await verifying_organizations(session)
    await add_people(session, ctx, volunteer_ids=volunteers)
    ctx.suspended = await suspended_among(session, member_ids=[*volunteers, *ctx.requesters], now=now)
    return ctx


async def verifying_organizations(session: AsyncSession) -> frozenset[uuid.UUID]:
    """Organisations that take only volunteers with a verified address (few: read whole)."""
    rows = await session.exec(select(Organization.id).where(col(Organization.require_verified_email)))
    return frozenset(rows.all())


async def _verified(session: AsyncSession, volunteers: Any) -> set[uuid.UUID]:
    """Of `volunteers` (ids, or a subquery of them), those who verified their address."""
    rows = await session.exec(
        select(Member.id).where(col(Member.id).in_(volunteers), col(Member.email_verified_at).is_not(None))
    )
    return set(rows.all())


async def add_people(
    session: AsyncSession, ctx: Context, *, volunteer_ids: Iterable[uuid.UUID], vetting: bool = True
) -> None:
    """Vetting, history and blocks for more volunteers (candidates load them a pool at a time)."""
    volunteers = list(set(volunteer_ids) - ctx.known_volunteers)
    if not volunteers:
        return
    ctx.known_volunteers |= set(volunteers)
    if ctx.verifying:
        ctx.verified |= await _verified(session, volunteers)
    if vetting:
        vetted = await session.exec(
            select(Membership.member_id, Membership.organization_id).where(
                col(Membership.member_id).in_(volunteers), col(Membership.vetted)
            )
        )
        by_member: dict[uuid.UUID, set[uuid.UUID]] = {}
        for member_id, org_id in vetted.all():
            by_member.setdefault(member_id, set()).add(org_id)
        ctx.vetted_by.update({m: frozenset(orgs) for m, orgs in by_member.items()})
    if ctx.requesters:
        history = await session.exec(
            select(Match.volunteer_id, Match.requester_id, func.count())
            .where(
                col(Match.volunteer_id).in_(volunteers),
                col(Match.requester_id).in_(ctx.requesters),
                col(Match.status) == MatchStatus.completed,
            )
            .group_by(col(Match.volunteer_id), col(Match.requester_id))
        )
        ctx.history.update({(v, r): n for v, r, n in history.all() if r is not None})
        ctx.blocked |= await blocks.blocked_pairs(session, ctx.requesters, volunteers)


async def run_context(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    needs: Select[Any],
    offers: Select[Any],
    now: datetime,
) -> Context:
    """What a batch run's pairs depend on beyond their rows, in four queries whatever its size.

    Only the run's organisation's vetting counts (all its needs are its own), its active
    matches hold every pair already joined to its needs, and history and blocks are read for the
    requesters and volunteers of the run's own rows, named by subquery rather than by lists of ids."""
    ctx = Context(now=now)
    vetted = await session.exec(
        select(Membership.member_id).where(
            col(Membership.organization_id) == organization_id, col(Membership.vetted)
        )
    )
    by = frozenset({organization_id})
    ctx.vetted_by = dict.fromkeys(vetted.all(), by)
    joined = await session.exec(
        select(Match.need_id, Match.offer_id, Match.volunteer_id).where(
            col(Match.organization_id) == organization_id, col(Match.status).in_(ACTIVE)
        )
    )
    for need_id, offer_id, volunteer_id in joined.all():
        ctx.active_pairs.add((need_id, offer_id))
        ctx.active_volunteers.add((need_id, volunteer_id))
    history = await session.exec(
        select(Match.volunteer_id, Match.requester_id, func.count())
        .where(
            col(Match.status) == MatchStatus.completed,
            col(Match.requester_id).in_(needs.with_only_columns(col(Need.requester_id)).scalar_subquery()),
            col(Match.volunteer_id).in_(offers.with_only_columns(col(Offer.volunteer_id)).scalar_subquery()),
        )
        .group_by(col(Match.volunteer_id), col(Match.requester_id))
    )
    ctx.history = {(v, r): n for v, r, n in history.all() if r is not None}
    ctx.suspended = await suspended_now(session, now=now)
    if organization_id in (verifying := await verifying_organizations(session)):
        ctx.verifying = verifying
        ctx.verified = await _verified(
            session, offers.with_only_columns(col(Offer.volunteer_id)).scalar_subquery()
        )
    ctx.blocked = await blocks.blocked_pairs(
        session,
        needs.with_only_columns(col(Need.requester_id)).scalar_subquery(),
        offers.with_only_columns(col(Offer.volunteer_id)).scalar_subquery(),
    )
    return ctx
