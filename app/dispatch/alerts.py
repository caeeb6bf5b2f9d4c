"""Nearby-need alerts (`need.nearby`): a public need, once open, told to the volunteers who opted in
and whose active offer would list it among their opportunities.

"Would list it" is the candidate search run once for the need: the same SQL (app.dispatch.pools:
every rule of app.matching.rules in its SQL form, blocks and suspension included, over the
offers' spatial index) and the same Python settling of the rules SQL keeps only as supersets.
The opt-in is joined into that one statement, so the fan-out is one query however many
volunteers there are; the members' own filters (categories, radius) are then read from the rows,
and the daily cap is one conditional upsert (app.notifications.service.take_alerts).

It runs after the need has committed, in a transaction of its own (app.dispatch.fanout): a
durable row written with the need says which needs are still to be told, so a rollback sends
none and a process lost in between leaves the row for the worker. bench/alerts.py measures one
fan-out: one query plus one inserted row per volunteer alerted.
"""

import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, and_, func, or_, text
from sqlalchemy import select as core_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.timeutil import utcnow
from app.dispatch import loading, pools
from app.dispatch.candidates import settled
from app.geo import within_reach_km
from app.matching.facts import BACKGROUND_CHECKED, Context, NeedFacts, OfferFacts
from app.matching.filters import distance_km
from app.needs.models import Need, NeedStatus, Visibility
from app.needs.views import effective_status
from app.notifications import service as notifications
from app.notifications.models import NeedAlert, NotificationSettings

NEED_NEARBY = "need.nearby"
# The nearest offers of the need's kind an alert fan-out looks at, and may alert: fewer than a
# candidate search may walk (pools.WALK), which stops at its first few candidates.
WALK = 1_500


@lru_cache(maxsize=256)
def _statement(shape: pools.Shape) -> Select[Any]:
    """The candidate search's offers (up to WALK), kept only where the volunteer has alerts
    enabled, each with their alert settings."""
    pool = pools.statement(shape).subquery("eligible")
    alerts = col(NotificationSettings.alerts)
    return (
        core_select(pool, alerts.label("alerts"))
        .join(NotificationSettings, col(NotificationSettings.member_id) == pool.c.volunteer_id)
        .where(alerts["enabled"].as_boolean().is_(True))
    )


def wants(alerts: Mapping[str, Any], need: Need, facts: NeedFacts, offer: OfferFacts) -> bool:
    """The member's own filters: their categories (all when absent), and for help in person their
    radius from this offer's coarse point (any distance the offer reaches when absent)."""
    categories = alerts.get("categories")
    if categories is not None and need.category not in categories:
        return False
    radius = alerts.get("radius_km")
    if radius is None or not facts.in_person:
        return True
    d = distance_km(facts, offer)
    # Compared at the 0.5 km the volunteer's opportunities show, as every reach is.
    return d is not None and within_reach_km(d, float(radius))


async def eligible_volunteers(session: AsyncSession, *, need: Need) -> set[uuid.UUID]:
    """The opted-in volunteers, among the candidate search's, whose filters take this need."""
    if need.visibility != Visibility.public or effective_status(need) != NeedStatus.open:
        return set()
    facts = loading.need_facts(need)
    if facts.in_person and (facts.lat is None or facts.lon is None):
        return set()
    if need.requirements_mask & BACKGROUND_CHECKED and need.organization_id is None:
        return set()  # only the need's own organisation's vetting counts (as candidates)
    dialect = session.get_bind().dialect.name
    shape = pools.shape_of(need, facts, dialect)
    connection = await session.connection()
    if dialect == "postgresql" and facts.in_person:
        # As the candidate search: the bit-mask filters defeat Postgres's estimates, and a sort
        # of every matching row must never beat the index walk.
        await connection.execute(text("SET LOCAL enable_sort = off"))
    rows = (
        await connection.execute(_statement(shape), pools.parameters(need, facts, shape, WALK, walk=WALK))
    ).all()
    ctx = Context(now=utcnow())
    found = set()
    for row in rows:
        offer = loading.offer_facts(row)
        if (
            row.volunteer_id not in found
            and settled(facts, offer, ctx)
            and wants(row.alerts, need, facts, offer)
        ):
            found.add(row.volunteer_id)
    return found


def public_data(need: Need) -> dict[str, Any]:
    """What an alert says: the need's public view's facts, never its exact point."""
    approx = None if need.approx_lat is None else {"lat": need.approx_lat, "lon": need.approx_lon}
    return {
        "need_id": str(need.id),
        "category": need.category,
        "mode": need.mode,
        "urgency": need.urgency,
        "approx_location": approx,
    }


def source_of(need: Need) -> uuid.UUID:
    """Whom a need's alerts count against, per volunteer and day: its organisation, else its
    requester (a need has one or the other; its own id otherwise)."""
    return need.organization_id or need.requester_id or need.id


async def untold(
    session: AsyncSession, *, need: Need, members: set[uuid.UUID], day: date, per_source: int
) -> set[uuid.UUID]:
    """Of `members`, those not yet told of `need` and told fewer than `per_source` needs of its
    source on `day`. Exact only under their allowance rows' locks (alert_all takes them first)."""
    if not members or per_source < 1:
        return set()
    source = source_of(need)
    stmt = (
        select(
            col(NeedAlert.member_id),
            func.count().filter(col(NeedAlert.need_id) == need.id),
            func.count().filter(col(NeedAlert.day) == day, col(NeedAlert.source_id) == source),
        )
        .where(
            col(NeedAlert.member_id).in_(sorted(members)),
            or_(
                col(NeedAlert.need_id) == need.id,
                and_(col(NeedAlert.day) == day, col(NeedAlert.source_id) == source),
            ),
        )
        .group_by(col(NeedAlert.member_id))
    )
    spent = {
        m for m, told, from_source in (await session.exec(stmt)).all() if told or from_source >= per_source
    }
    return members - spent


async def record(session: AsyncSession, *, need: Need, members: set[uuid.UUID], day: date) -> None:
    """Remember that `members` were told of `need` today."""
    if not members:
        return
    source = source_of(need)
    rows = [{"need_id": need.id, "member_id": m, "source_id": source, "day": day} for m in sorted(members)]
    builder = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.exec(builder(NeedAlert).values(rows).on_conflict_do_nothing())


async def alert_nearby(
    session: AsyncSession, *, need: Need, actor: uuid.UUID | None, per_day: int, per_source: int
) -> set[uuid.UUID]:
    """Alert the volunteers for `need` (the need's author, `actor`, never); those alerted. A
    volunteer already told of this need, past `per_source` alerts today (UTC) from its source,
    or past `per_day` alerts today in all, is skipped, not queued."""
    alerted = await alert_all(session, needs=[need], actor=actor, per_day=per_day, per_source=per_source)
    return alerted.get(need.id, set())


async def alert_all(
    session: AsyncSession,
    *,
    needs: Sequence[Need],
    actor: uuid.UUID | None,
    per_day: int,
    per_source: int,
) -> dict[uuid.UUID, set[uuid.UUID]]:
    """Alert the volunteers for each of `needs` (one created, or a partner's batch), each need
    as if alone: a volunteer eligible for three needs takes three of the day's alerts (up to
    the caps). Those alerted, by need id.

    Locks: every volunteer's allowance row first, in id order, before anything else of the
    alerts is read or written: which needs a volunteer was told of (`need_alerts`) is read under
    that lock, so two fan-outs of one need, or of one source, count each other exactly. Then
    their inbox counters, in id order: with more than one need all of them at once first (one
    need's `notify` takes its own in order), so no two fan-outs wait on each other in a cycle."""
    wanted: list[tuple[Need, set[uuid.UUID]]] = []
    for need in needs:
        found = await eligible_volunteers(session, need=need)
        found.discard(actor)
        if found:
            wanted.append((need, found))
    if not wanted:
        return {}
    day = utcnow().date()
    everyone = set().union(*(found for _, found in wanted))
    await notifications.hold_allowances(session, members=everyone, day=day)
    if len(wanted) > 1:  # one need's `notify` takes its counters in order itself
        await notifications.hold(session, members=everyone)
    alerted: dict[uuid.UUID, set[uuid.UUID]] = {}
    for need, found in wanted:
        fresh = await untold(session, need=need, members=found, day=day, per_source=per_source)
        allowed = await notifications.take_alerts(session, members=fresh, day=day, per_day=per_day)
        await record(session, need=need, members=allowed, day=day)
        await notifications.notify(
            session, recipients=allowed, type=NEED_NEARBY, data=public_data(need), actor=actor
        )
        alerted[need.id] = allowed
    return alerted
