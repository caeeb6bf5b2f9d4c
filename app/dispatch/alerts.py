"""Nearby-need alerts (`need.nearby`): a public need, once open, told to the volunteers who opted in
and whose active offer would list it among their opportunities.

"Would list it" is the candidate search run once for the need: the same SQL (app.dispatch.pools:
every rule of app.matching.rules in its SQL form, blocks and suspension included, over the
offers' spatial index) and the same Python settling of the rules SQL keeps only as supersets.
The opt-in is joined into that one statement, so the fan-out is one query however many
volunteers there are; the members' own filters (categories, radius) are then read from the rows.
Then three limits, each in one statement: nobody is told of a need twice, nor more than
ALERTS_PER_SOURCE_PER_DAY needs a day from one source (`need_alerts`: one read, one insert), nor
more than ALERTS_PER_DAY in all (one conditional upsert, app.notifications.service.take_alerts).

It runs after the need has committed, in a transaction of its own (app.dispatch.fanout): a
durable row written with the need says which needs are still to be told, so a rollback sends
none and a process lost in between leaves the row for the worker. bench/alerts.py measures one
fan-out: the query, the allowance upsert, the `need_alerts` read and insert, the cap's upsert,
and one inbox row per volunteer alerted.
"""

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, and_, delete, func, or_, text
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
from app.organizations.models import ApiKey

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


async def source_of(session: AsyncSession, need: Need) -> uuid.UUID:
    """Whom a need's alerts count against, per volunteer and day: the person whose hands filed
    it. A member's own need is its requester's; a need filed for someone is its coordinator's,
    or, through a key, the key's creator's (a key acts with its creator's rights). Not the
    organisation: anyone may start several, and each one's intake is unlimited."""
    if need.requester_id is not None:
        return need.requester_id
    if need.filed_by_member_id is not None:
        return need.filed_by_member_id
    if need.filed_by_key_id is not None:
        creator = (
            await session.exec(select(ApiKey.created_by).where(col(ApiKey.id) == need.filed_by_key_id))
        ).first()
        if creator is not None:
            return creator
    return need.organization_id or need.id  # filed before `filed_by` was recorded


async def untold(
    session: AsyncSession,
    *,
    need: Need,
    source: uuid.UUID,
    members: set[uuid.UUID],
    day: date,
    per_source: int,
) -> set[uuid.UUID]:
    """Of `members`, those not yet told of `need` and told fewer than `per_source` needs of
    `source` on `day`. The share is exact under their allowance rows' locks (alert_nearby takes
    them first); "not yet told" is settled by `claim`, whatever the day."""
    if not members or per_source < 1:
        return set()
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


async def claim(
    session: AsyncSession, *, need: Need, source: uuid.UUID, members: set[uuid.UUID], day: date
) -> set[uuid.UUID]:
    """Record `members` as told of `need` today; those whose row this wrote. The primary key
    (need, member) decides: a fan-out of the same need in another transaction, even one holding
    another day's allowance rows, waits for that one's commit and then writes nothing."""
    if not members:
        return set()
    rows = [{"need_id": need.id, "member_id": m, "source_id": source, "day": day} for m in sorted(members)]
    builder = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = builder(NeedAlert).values(rows).on_conflict_do_nothing().returning(col(NeedAlert.member_id))
    return {row[0] for row in (await session.exec(stmt)).all()}


async def unclaim(session: AsyncSession, *, need: Need, members: set[uuid.UUID]) -> None:
    """Forget claims of `members` the daily cap then refused: they were not told."""
    if members:
        await session.exec(
            delete(NeedAlert).where(
                col(NeedAlert.need_id) == need.id, col(NeedAlert.member_id).in_(sorted(members))
            )
        )


async def alert_nearby(
    session: AsyncSession,
    *,
    need: Need,
    actor: uuid.UUID | None,
    per_day: int,
    per_source: int,
    now: datetime | None = None,
) -> set[uuid.UUID]:
    """Alert the volunteers for `need` (the need's author, `actor`, never); those alerted. A
    volunteer already told of this need, past `per_source` alerts today (UTC) from its source,
    or past `per_day` alerts today in all, is skipped, not queued. `now` (default: the clock)
    says which UTC day counts.

    Locks, in this order: the volunteers' allowance rows for today (in id order, before anything
    of the alerts is read), the `need_alerts` rows it claims, then (in `notify`) their inbox
    counters in id order. Every fan-out takes them in that order, so none waits on another in a
    cycle; the share per source is read under the allowance rows' lock, so two fan-outs of one
    source count each other exactly."""
    found = await eligible_volunteers(session, need=need)
    found.discard(actor)
    if not found:
        return set()
    day = (now or utcnow()).date()
    source = await source_of(session, need)
    await notifications.hold_allowances(session, members=found, day=day)
    fresh = await untold(session, need=need, source=source, members=found, day=day, per_source=per_source)
    claimed = await claim(session, need=need, source=source, members=fresh, day=day)
    allowed = await notifications.take_alerts(session, members=claimed, day=day, per_day=per_day)
    await unclaim(session, need=need, members=claimed - allowed)
    await notifications.notify(
        session, recipients=allowed, type=NEED_NEARBY, data=public_data(need), actor=actor
    )
    return allowed
