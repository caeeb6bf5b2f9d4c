"""Members' Web Push subscriptions (one per browser) and the key browsers subscribe with."""

import uuid
from collections.abc import Sequence
from urllib.parse import urlsplit

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.errors import Invalid, NotFound
from app.core.timeutil import utcnow
from app.notifications.models import PushSubscriptionCreate
from app.webhooks.models import PushSubscription
from app.webhooks.targets import TargetRefused, check_host
from app.webhooks.vapid import vapid_keys

_NOT_FOUND = "No push subscription of yours has this id."


async def public_key(session: AsyncSession, settings: Settings) -> str:
    """The VAPID application server key (app.webhooks.vapid): configured, or made once and kept."""
    return (await vapid_keys(session, settings)).public_key


async def subscribe(
    session: AsyncSession, *, member_id: uuid.UUID, body: PushSubscriptionCreate, allow_private: bool
) -> PushSubscription:
    """Keep the browser's subscription for the member: one upsert on the endpoint, so a browser
    that subscribes again (its keys refreshed, or under another account) updates its one row
    and never makes a second. Invalid (422) for an endpoint on a non-public address, the check
    webhooks make (app.webhooks.targets); the worker checks again after DNS, at each push."""
    if not allow_private:
        try:
            check_host(urlsplit(body.endpoint).hostname or "")
        except TargetRefused:
            raise Invalid(
                "The endpoint's host is, or names, a non-public address; push services are public.",
                loc=["body", "endpoint"],
            ) from None
    now = utcnow()
    values = {"member_id": member_id, "p256dh": body.keys.p256dh, "auth": body.keys.auth, "updated_at": now}
    builder = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = builder(PushSubscription).values(id=uuid.uuid4(), endpoint=body.endpoint, created_at=now, **values)
    upsert = stmt.on_conflict_do_update(index_elements=["endpoint"], set_=values).returning(
        col(PushSubscription.id)
    )
    subscription_id = (await session.exec(upsert)).one()[0]
    found = await session.get(PushSubscription, subscription_id, populate_existing=True)
    assert found is not None  # just written
    return found


async def list_own(session: AsyncSession, *, member_id: uuid.UUID) -> Sequence[PushSubscription]:
    stmt = (
        select(PushSubscription)
        .where(col(PushSubscription.member_id) == member_id)
        .order_by(col(PushSubscription.created_at), col(PushSubscription.id))
    )
    return (await session.exec(stmt)).all()


async def remove(session: AsyncSession, *, member_id: uuid.UUID, subscription_id: uuid.UUID) -> None:
    """Forget one of the member's subscriptions, and every push still waiting for it. Another
    member's id is 404, exactly like an id that does not exist."""
    gone = await session.exec(
        delete(PushSubscription).where(
            col(PushSubscription.id) == subscription_id, col(PushSubscription.member_id) == member_id
        )
    )
    if gone.rowcount != 1:
        raise NotFound(_NOT_FOUND)


async def forget_all(session: AsyncSession, *, member_id: uuid.UUID) -> None:
    """Forget every subscription of the member's, and the pushes still waiting for them: what a
    new password does (app.members.hooks), as a browser subscribed by a session it ended could
    still be reading them. The member's apps subscribe again at their next start."""
    await session.exec(delete(PushSubscription).where(col(PushSubscription.member_id) == member_id))
