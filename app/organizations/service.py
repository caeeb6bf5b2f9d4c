"""Organisation rules: creation, roles and vetting, and partner API keys."""

import uuid
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import ColumnElement, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from app.core.crud import newest_first, page_of
from app.core.errors import Conflict, NotFound
from app.core.security import hash_api_key, new_api_key
from app.core.timeutil import utcnow
from app.core.transactions import savepoint
from app.members.models import Member
from app.members.suspension import is_suspended, suspended_sql
from app.organizations.models import (
    ApiKey,
    ApiKeyCreate,
    Membership,
    MembershipSet,
    Organization,
    OrganizationCreate,
    OrganizationUpdate,
    Role,
)

# last_used_at is a hint, not a log: refresh it at most this often, not on every request.
LAST_USED_RESOLUTION = timedelta(seconds=60)


async def create_organization(
    session: AsyncSession, *, creator: Member, data: OrganizationCreate
) -> Organization:
    area = data.service_area
    org = Organization(
        name=data.name,
        description=data.description,
        area_lat=area.lat if area else None,
        area_lon=area.lon if area else None,
        area_radius_km=area.radius_km if area else None,
    )
    session.add(org)
    await session.flush()
    session.add(Membership(organization_id=org.id, member_id=creator.id, role=Role.coordinator))
    await session.flush()
    return org


async def update_organization(
    session: AsyncSession, *, organization: Organization, data: OrganizationUpdate
) -> Organization:
    """Apply the fields sent; null clears the description or the service area."""
    changes = data.model_dump(exclude_unset=True)
    if "service_area" in changes:
        area = changes.pop("service_area")
        changes |= {
            "area_lat": area["lat"] if area else None,
            "area_lon": area["lon"] if area else None,
            "area_radius_km": area["radius_km"] if area else None,
        }
    if changes:
        organization.sqlmodel_update({**changes, "updated_at": utcnow()})
        session.add(organization)
        await session.flush()
    return organization


async def get_organization(session: AsyncSession, *, organization_id: uuid.UUID) -> Organization:
    org = await session.get(Organization, organization_id)
    if org is None:
        raise NotFound("No such organization.")
    return org


async def lock_organization(session: AsyncSession, *, organization_id: uuid.UUID) -> None:
    """Hold the organisation's row until the transaction ends: a queue for changes to its parts."""
    await session.get(Organization, organization_id, with_for_update=True, populate_existing=True)


async def exists(session: AsyncSession, *, organization_id: uuid.UUID) -> bool:
    return await session.get(Organization, organization_id) is not None


async def list_organizations(
    session: AsyncSession, *, limit: int, cursor: str | None
) -> tuple[list[Organization], str | None]:
    return page_of(
        (await session.exec(newest_first(select(Organization), Organization, cursor, limit))).all(), limit
    )


async def numbered_page(session: AsyncSession, *, offset: int, limit: int) -> tuple[list[Organization], int]:
    """(organisations oldest first from `offset`, how many there are): for page-numbered feeds."""
    total = (await session.exec(select(func.count()).select_from(Organization))).one()
    stmt = select(Organization).order_by(col(Organization.created_at), col(Organization.id))
    return list((await session.exec(stmt.offset(offset).limit(limit))).all()), int(total)


def coordinated_sql(member_id: uuid.UUID | ColumnElement[uuid.UUID]) -> SelectOfScalar[uuid.UUID]:
    """The ids of the organisations `member_id` (an id, or a column) coordinates now, as SQL."""
    return select(Membership.organization_id).where(
        col(Membership.member_id) == member_id, col(Membership.role) == Role.coordinator
    )


async def coordinated_by(session: AsyncSession, *, member_id: uuid.UUID) -> frozenset[uuid.UUID]:
    return frozenset((await session.exec(coordinated_sql(member_id))).all())


async def coordinators(session: AsyncSession, *, organization_id: uuid.UUID) -> set[uuid.UUID]:
    """The organisation's coordinators now."""
    stmt = select(Membership.member_id).where(
        col(Membership.organization_id) == organization_id, col(Membership.role) == Role.coordinator
    )
    return set((await session.exec(stmt)).all())


async def members_among(
    session: AsyncSession, *, organization_id: uuid.UUID, member_ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    """Those of `member_ids` who belong to the organisation, in any role."""
    wanted = set(member_ids)
    if not wanted:
        return set()
    stmt = select(Membership.member_id).where(
        col(Membership.organization_id) == organization_id, col(Membership.member_id).in_(wanted)
    )
    return set((await session.exec(stmt)).all())


async def is_member(session: AsyncSession, *, organization_id: uuid.UUID, member_id: uuid.UUID) -> bool:
    return await session.get(Membership, (organization_id, member_id)) is not None


async def set_membership(
    session: AsyncSession, *, organization_id: uuid.UUID, member_id: uuid.UUID, data: MembershipSet
) -> tuple[Membership, bool]:
    """Upsert a member's role; (membership, created). Never leaves an organisation without a coordinator."""
    if await session.get(Member, member_id) is None:
        raise NotFound("No such member.")
    # Serialise role changes per organisation, so two coordinators cannot demote each other at once.
    await session.get(Organization, organization_id, with_for_update=True, populate_existing=True)
    membership = await session.get(Membership, (organization_id, member_id), with_for_update=True)
    created = membership is None
    if membership is None:
        membership = Membership(
            organization_id=organization_id, member_id=member_id, role=data.role, vetted=bool(data.vetted)
        )
    else:
        if membership.role == Role.coordinator and data.role != Role.coordinator:
            await _keep_a_coordinator(session, organization_id=organization_id, leaving=member_id)
        membership.role = data.role
        if data.vetted is not None:
            membership.vetted = data.vetted
        membership.updated_at = utcnow()
    try:
        async with savepoint(session):
            session.add(membership)
    except IntegrityError:
        raise Conflict("The membership changed at the same moment; try again.") from None
    return membership, created


async def acting_coordinators(
    session: AsyncSession, *, organization_id: uuid.UUID, leaving: uuid.UUID | None = None
) -> int:
    """How many of the organisation's coordinators (other than `leaving`) can act for it now: a
    suspended one cannot until reinstated, and an erased one is no longer a member."""
    stmt = (
        select(func.count())
        .select_from(Membership)
        .join(Member, col(Member.id) == col(Membership.member_id))
        .where(
            col(Membership.organization_id) == organization_id,
            col(Membership.role) == Role.coordinator,
            col(Member.erased_at).is_(None),
            ~suspended_sql(utcnow()),
        )
    )
    if leaving is not None:
        stmt = stmt.where(col(Membership.member_id) != leaving)
    return (await session.exec(stmt)).one()


async def _keep_a_coordinator(
    session: AsyncSession, *, organization_id: uuid.UUID, leaving: uuid.UUID
) -> None:
    if await acting_coordinators(session, organization_id=organization_id, leaving=leaving) == 0:
        raise Conflict(
            "An organization needs at least one coordinator who can act (not suspended); "
            "appoint another first."
        )


async def appoint_coordinator(
    session: AsyncSession, *, organization_id: uuid.UUID, member_id: uuid.UUID, actor_id: uuid.UUID
) -> tuple[Membership, bool]:
    """A platform admin makes `member_id` a coordinator of an organisation no coordinator can act
    for (its last one erased their account, or every one is suspended); (membership, created).

    NotFound for an unknown organisation, or a member who is neither one of its members nor the
    admin themselves (nobody is made to act for an organisation they never joined); Conflict
    while a coordinator can act (they appoint others), or for a suspended member."""
    organization = await session.get(
        Organization, organization_id, with_for_update=True, populate_existing=True
    )
    if organization is None:
        raise NotFound("No such organization.")
    if await acting_coordinators(session, organization_id=organization_id) > 0:
        raise Conflict("This organization has a coordinator who can act; its coordinators appoint others.")
    membership = await session.get(Membership, (organization_id, member_id), with_for_update=True)
    if membership is None and member_id != actor_id:
        raise NotFound("No such member of this organization.")
    member = await session.get(Member, member_id)
    if member is None or member.erased_at is not None:
        raise NotFound("No such member of this organization.")
    if is_suspended(member, utcnow()):
        raise Conflict("This member is suspended and cannot act for an organization until reinstated.")
    created = membership is None
    if membership is None:
        membership = Membership(organization_id=organization_id, member_id=member_id, role=Role.coordinator)
    membership.role = Role.coordinator
    membership.updated_at = utcnow()
    session.add(membership)
    await session.flush()
    return membership, created


async def create_api_key(
    session: AsyncSession, *, organization_id: uuid.UUID, creator: Member, data: ApiKeyCreate
) -> tuple[ApiKey, str]:
    secret, prefix, digest = new_api_key()
    key = ApiKey(
        organization_id=organization_id,
        name=data.name,
        scopes=[str(s) for s in data.scopes],
        prefix=prefix,
        key_hash=digest,
        created_by=creator.id,
    )
    session.add(key)
    await session.flush()
    return key, secret


async def list_api_keys(session: AsyncSession, *, organization_id: uuid.UUID) -> list[ApiKey]:
    stmt = (
        select(ApiKey)
        .where(col(ApiKey.organization_id) == organization_id)
        .order_by(col(ApiKey.created_at).desc(), col(ApiKey.id).desc())
    )
    return list((await session.exec(stmt)).all())


async def revoke_api_key(session: AsyncSession, *, organization_id: uuid.UUID, key_id: uuid.UUID) -> None:
    result = await session.exec(
        update(ApiKey)
        .where(
            col(ApiKey.id) == key_id,
            col(ApiKey.organization_id) == organization_id,
            col(ApiKey.revoked_at).is_(None),
        )
        .values(revoked_at=utcnow())
    )
    if result.rowcount != 1:
        raise NotFound("No such active API key in this organization.")


async def authenticate_key(session: AsyncSession, *, secret: str) -> ApiKey | None:
    """The live key with this secret; touches last_used_at now and then."""
    stmt = select(ApiKey).where(
        col(ApiKey.key_hash) == hash_api_key(secret), col(ApiKey.revoked_at).is_(None)
    )
    key = (await session.exec(stmt)).first()
    if key is None:
        return None
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        # Committed with the request it authenticates, like the rest of its work.
        key.last_used_at = now
        session.add(key)
    return key
