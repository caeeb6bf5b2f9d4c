"""Passwords and addresses: changing a password, resetting a forgotten one, verifying an email.

One-time tokens are 256 random bits, kept only as their sha256, spent by a conditional UPDATE
(so two uses at once cannot both win), and they expire. Their mail is queued in the outbox in
the request's transaction and sent by the worker: nothing here waits for a mail server."""

import uuid
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.errors import Conflict, Forbidden, Invalid
from app.core.security import hash_password, hash_token, new_secret_token, verify_password
from app.core.timeutil import utcnow
from app.members import hooks, sessions
from app.members.accounts import AccountToken, TokenPurpose
from app.members.mail import render
from app.members.models import Member
from app.members.passwords import check_new_password

_SPENT = "This link is invalid, already used or expired; ask for a new one."


async def change_password(
    session: AsyncSession,
    *,
    member: Member,
    current: str,
    new: str,
    keep: uuid.UUID | None,
    settings: Settings,
) -> None:
    """Raises Forbidden when `current` is wrong, Invalid when `new` is refused. Every other
    session of the member's ends: whoever else held one must prove the new password."""
    if not await verify_password(current, member.password_hash):
        raise Forbidden("The current password is not correct.")
    await _set_password(session, member_id=member.id, new=new, settings=settings)
    await sessions.revoke_all(session, member_id=member.id, keep=keep)


async def _set_password(session: AsyncSession, *, member_id: uuid.UUID, new: str, settings: Settings) -> None:
    check_new_password(new, min_length=settings.password_min_length, field="new_password")
    digest = await hash_password(new)
    await session.exec(
        update(Member).where(col(Member.id) == member_id).values(password_hash=digest, updated_at=utcnow())
    )


async def _mint(
    session: AsyncSession, *, member_id: uuid.UUID | None, purpose: TokenPurpose, email: str, ttl: int
) -> str:
    token, digest = new_secret_token()
    now = utcnow()
    session.add(
        AccountToken(
            token_hash=digest,
            member_id=member_id,
            purpose=purpose,
            email=email,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )
    )
    await session.flush()
    return token


async def request_reset(session: AsyncSession, *, email: str, settings: Settings, send: bool = True) -> None:
    """The same work whether or not an account has `email` (a token row written, a mail
    queued), so neither the answer nor its timing tells which. An unknown address is told
    that no account uses it, and its token row names no member, so it can redeem nothing.
    `send=False` (the address's mail budget is spent) queues nothing, for either kind."""
    member = (await session.exec(select(Member).where(col(Member.email) == email))).first()
    ttl = settings.password_reset_ttl_seconds
    token = await _mint(
        session,
        member_id=member.id if member else None,
        purpose=TokenPurpose.password_reset,
        email=email,
        ttl=ttl,
    )
    if member is not None:
        link = f"{settings.public_base_url.rstrip('/')}/reset-password?token={token}"
        mail = render("password_reset", name=member.display_name, link=link, minutes=ttl // 60)
    else:
        mail = render("password_reset_unknown")
    if not send:
        return
    await hooks.mail_queue()(
        session,
        settings=settings,
        to=email,
        subject=mail.subject,
        text=mail.text,
        html=mail.html,
        kind="mail.password_reset",
    )


async def _spend(session: AsyncSession, *, token: str, purpose: TokenPurpose) -> tuple[uuid.UUID, str]:
    """Mark the token used, if it is live and names a member: (member id, address it was sent
    to). Invalid otherwise."""
    now = utcnow()
    spent = await session.exec(
        update(AccountToken)
        .where(
            col(AccountToken.token_hash) == hash_token(token),
            col(AccountToken.purpose) == purpose,
            col(AccountToken.used_at).is_(None),
            col(AccountToken.expires_at) > now,
            col(AccountToken.member_id).is_not(None),
        )
        .values(used_at=now)
        .returning(col(AccountToken.member_id), col(AccountToken.email))
    )
    row = spent.first()
    if row is None or row[0] is None:
        raise Invalid(_SPENT, loc=["body", "token"])
    return row[0], row[1]


async def confirm_reset(session: AsyncSession, *, token: str, new: str, settings: Settings) -> None:
    """Set the new password and end every session of the member's (whoever had the old password
    may hold one). Invalid for a spent, expired or unknown token, or a refused password."""
    check_new_password(new, min_length=settings.password_min_length, field="new_password")
    member_id, email = await _spend(session, token=token, purpose=TokenPurpose.password_reset)
    await _set_password(session, member_id=member_id, new=new, settings=settings)
    await sessions.revoke_all(session, member_id=member_id)
    # Following the emailed link proved the address too.
    await _mark_verified(session, member_id=member_id, email=email)


async def send_verification(session: AsyncSession, *, member: Member, settings: Settings) -> None:
    if member.email_verified_at is not None:
        raise Conflict("This address is verified already.")
    ttl = settings.email_verification_ttl_seconds
    token = await _mint(
        session, member_id=member.id, purpose=TokenPurpose.verify_email, email=member.email, ttl=ttl
    )
    link = f"{settings.public_base_url.rstrip('/')}/verify-email?token={token}"
    mail = render("verify_email", name=member.display_name, link=link, hours=ttl // 3600)
    await hooks.mail_queue()(
        session,
        settings=settings,
        to=member.email,
        subject=mail.subject,
        text=mail.text,
        html=mail.html,
        kind="mail.verify_email",
    )


async def verify_email(session: AsyncSession, *, token: str) -> None:
    member_id, email = await _spend(session, token=token, purpose=TokenPurpose.verify_email)
    await _mark_verified(session, member_id=member_id, email=email)


async def _mark_verified(session: AsyncSession, *, member_id: uuid.UUID, email: str) -> None:
    # Only while the address is still the one the link was sent to.
    await session.exec(
        update(Member)
        .where(
            col(Member.id) == member_id, col(Member.email) == email, col(Member.email_verified_at).is_(None)
        )
        .values(email_verified_at=utcnow())
    )
