"""Member rules: sign-up, login, profile updates."""

import uuid

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.errors import Conflict, Unauthorized
from app.core.security import hash_password, verify_password
from app.core.timeutil import utcnow
from app.core.transactions import savepoint
from app.members.models import Member, MemberCreate, MemberUpdate, canonical_email
from app.members.passwords import check_new_password
from app.members.suspension import is_suspended

SUSPENDED = "This account is suspended; its credentials do not work until it is reinstated."


class Suspended(Unauthorized):
    """401 for credentials that are right but belong to a suspended account: not a failed
    credential, so it does not count against the client address's failed-login budget (a shared
    address, a shelter or a library, must not be locked out by one suspended member's app)."""

    def __init__(self) -> None:
        super().__init__(SUSPENDED)


async def create_member(session: AsyncSession, *, data: MemberCreate, settings: Settings) -> Member:
    check_new_password(data.password, min_length=settings.password_min_length, field="password")
    member = Member(
        email=data.email,  # canonical already (app.members.models.Email)
        password_hash=await hash_password(data.password),
        display_name=data.display_name,
        phone=data.phone,
        languages=data.languages,
    )
    try:
        async with savepoint(session):
            session.add(member)
    except IntegrityError:
        raise Conflict("An account with this email already exists.") from None
    return member


async def authenticate(session: AsyncSession, *, email: str, password: str) -> Member:
    if "\x00" in email or "\x00" in password:  # no such account can exist (and Postgres rejects NUL)
        raise Unauthorized("Incorrect email or password.")
    result = await session.exec(select(Member).where(col(Member.email) == canonical_email(email)))
    member = result.first()
    if not await verify_password(password, member.password_hash if member else None) or member is None:
        if member is not None:
            await _tell_a_duplicate(session, member, password)
        raise Unauthorized("Incorrect email or password.")
    if is_suspended(member, utcnow()):
        # Only someone who knows the password learns why: the member themselves.
        raise Suspended()
    return member


async def _tell_a_duplicate(session: AsyncSession, member: Member, password: str) -> None:
    """When the password is that of a newer account which shared this address before addresses
    were compared normalised (migration 0008), say so rather than only "incorrect": the owner
    learns why, and what to do. Only the holder of that account's password learns it exists."""
    duplicates = await session.exec(select(Member).where(col(Member.duplicate_of) == member.id))
    for duplicate in duplicates.all():
        if await verify_password(password, duplicate.password_hash):
            raise Unauthorized(
                "This address had two accounts, written in two forms of the same address; it now "
                "signs in to the older one. Your other account, its needs and offers are kept: "
                "sign in here with the older account's password, or ask the service's operators "
                "to merge the two."
            )


async def get_member(session: AsyncSession, *, member_id: uuid.UUID) -> Member | None:
    return await session.get(Member, member_id)


async def display_names(session: AsyncSession, *, member_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Each member's display name, by id (ids of no member are left out)."""
    if not member_ids:
        return {}
    rows = await session.exec(select(Member.id, Member.display_name).where(col(Member.id).in_(member_ids)))
    return dict(rows.all())


async def update_member(session: AsyncSession, *, member: Member, data: MemberUpdate) -> Member:
    changes = data.model_dump(exclude_unset=True)
    if changes:
        member.sqlmodel_update(changes)
        member.updated_at = utcnow()
        session.add(member)
        await session.flush()
    return member
