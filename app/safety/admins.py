"""`python -m app admin grant|revoke EMAIL`: make a member a platform admin, or stop them being one.

Run by an operator with the database's credentials, so no admin need exist first; every change
is recorded in the admin audit (actor: none, the command line).
"""

import asyncio
import sys

from sqlalchemy import update
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit.admin import record_admin_action
from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker
from app.core.timeutil import utcnow
from app.core.transactions import commit_own
from app.members.models import Member, canonical_email


class UnknownMember(LookupError):
    pass


async def set_admin(session: AsyncSession, *, email: str, admin: bool) -> Member:
    """Grant (`admin`) or revoke the flag; UnknownMember when no account has this address."""
    member = (await session.exec(select(Member).where(col(Member.email) == canonical_email(email)))).first()
    if member is None:
        raise UnknownMember(email)
    await session.exec(
        update(Member).where(col(Member.id) == member.id).values(platform_admin=admin, updated_at=utcnow())
    )
    await record_admin_action(
        session,
        actor_member_id=None,
        action="grant_admin" if admin else "revoke_admin",
        target_member_id=member.id,
        detail="python -m app admin",
    )
    return member


async def _run(settings: Settings, email: str, admin: bool) -> None:
    """In a transaction of its own, committed here: a command, not a request."""
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            await set_admin(session, email=email, admin=admin)
            await commit_own(session)
    finally:
        await engine.dispose()


def main(settings: Settings, *, action: str, email: str) -> int:
    """The command's exit status: 0 done, 1 no such member, 2 no usable database (said on stderr)."""
    admin = action == "grant"
    try:
        asyncio.run(_run(settings, email, admin))
    except UnknownMember:
        print(f"No member has the email address {email!r}; nothing changed.", file=sys.stderr)
        return 1
    except DBAPIError as exc:
        # The class only: the message may quote the connection string.
        print(
            f"The database could not be used ({type(exc.orig).__name__}); is DATABASE_URL right, "
            "and has `python -m app migrate` run? Nothing changed.",
            file=sys.stderr,
        )
        return 2
    print(f"{email} is {'now' if admin else 'no longer'} a platform admin.")
    return 0
