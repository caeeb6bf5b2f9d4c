"""Member rules: sign-up, login, profile updates."""

import uuid

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import Conflict, Unauthorized
from app.core.security import hash_password, verify_password
from app.core.timeutil import utcnow
from app.core.transactions import savepoint
from app.members.models import Member, MemberCreate, MemberUpdate


def _normalise_email(email: str) -> str:
    return email.strip().lower()


async def create_member(session: AsyncSession, *, data: MemberCreate) -> Member:
    member = Member(
        email=_normalise_email(data.email),
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
    result = await session.exec(select(Member).where(col(Member.email) == _normalise_email(email)))
    member = result.first()
    if not await verify_password(password, member.password_hash if member else None) or member is None:
        raise Unauthorized("Incorrect email or password.")
    return member


async def get_member(session: AsyncSession, *, member_id: uuid.UUID) -> Member | None:
    return await session.get(Member, member_id)


async def update_member(session: AsyncSession, *, member: Member, data: MemberUpdate) -> Member:
    changes = data.model_dump(exclude_unset=True)
    if changes:
        member.sqlmodel_update(changes)
        member.updated_at = utcnow()
        session.add(member)
        await session.flush()
    return member
