"""Passwords and addresses: changing a password, resetting a forgotten one, verifying an email,
changing it (the new address verified first, the old one told).

One-time tokens are 256 random bits, kept only as their sha256, spent by a conditional UPDATE
(so two uses at once cannot both win), and they expire. Their mail is queued in the outbox in
the request's transaction and sent by the worker: nothing here waits for a mail server."""

import uuid
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.errors import Conflict, Forbidden, Invalid
from app.core.security import hash_password, hash_token, new_secret_token, verify_password
from app.core.timeutil import utcnow
from app.core.transactions import savepoint
from app.members import hooks, sessions
from app.members.accounts import AccountToken, TokenPurpose
from app.members.mail import Rendered, masked, render
from app.members.models import Member
from app.members.passwords import check_new_password

_SPENT = "This link is invalid, already used or expired; ask for a new one."
TAKEN = "An account with this email already exists."


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
    session of the member's ends: whoever else held one must prove the new password. So do their
    live reset and address-change links, their calendar feed's URL and their browsers' push
    subscriptions (app.members.hooks)."""
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
    # Whoever held the old password may have asked to move the account to their own address, or
    # for reset links of their own; and with a session they may have made a calendar feed URL or
    # subscribed a browser to push: each outlives that session unless ended here.
    await _retire(
        session, member_id=member_id, purposes=(TokenPurpose.change_email, TokenPurpose.password_reset)
    )
    for revoke in hooks.on_new_password():
        await revoke(session, member_id=member_id)


async def _retire(session: AsyncSession, *, member_id: uuid.UUID, purposes: tuple[TokenPurpose, ...]) -> None:
    """The member's live links of these purposes stop working (marked used)."""
    await session.exec(
        update(AccountToken)
        .where(
            col(AccountToken.member_id) == member_id,
            col(AccountToken.purpose).in_(purposes),
            col(AccountToken.used_at).is_(None),
        )
        .values(used_at=utcnow())
    )


def _greeting_name(member: Member) -> str | None:
    """The name a mail to the account's address may greet: none while that address is unproven.
    Anyone may sign up with an address that is not theirs, and the name is theirs to write, so
    it would put a stranger's words in our mail to that address."""
    return member.display_name if member.email_verified_at is not None else None


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
        mail = render("password_reset", name=_greeting_name(member), link=link, minutes=ttl // 60)
    else:
        mail = render("password_reset_unknown")
    if not send:
        return
    await _mail(session, settings, to=email, mail=mail, kind="mail.password_reset")


async def _mail(session: AsyncSession, settings: Settings, *, to: str, mail: Rendered, kind: str) -> None:
    await hooks.mail_queue()(
        session, settings=settings, to=to, subject=mail.subject, text=mail.text, html=mail.html, kind=kind
    )


async def _spend(
    session: AsyncSession, *, token: str, purposes: tuple[TokenPurpose, ...]
) -> tuple[uuid.UUID, str, str]:
    """Mark the token used, if it is live, of one of these purposes, and names a member:
    (member id, address it was sent to, purpose). Invalid otherwise.

    The member's row is locked first (FOR NO KEY UPDATE), as an erasure takes it before it
    deletes their tokens: spending a token and then writing the member, against an erasure
    writing the member and then deleting the token, was a deadlock (a 503)."""
    now, digest = utcnow(), hash_token(token)
    owners = select(AccountToken.member_id).where(col(AccountToken.token_hash) == digest)
    owner = (await session.exec(owners)).first()
    if owner is not None:
        await session.exec(select(Member.id).where(col(Member.id) == owner).with_for_update(key_share=True))
    spent = await session.exec(
        update(AccountToken)
        .where(
            col(AccountToken.token_hash) == digest,
            col(AccountToken.purpose).in_(purposes),
            col(AccountToken.used_at).is_(None),
            col(AccountToken.expires_at) > now,
            col(AccountToken.member_id).is_not(None),
        )
        .values(used_at=now)
        .returning(col(AccountToken.member_id), col(AccountToken.email), col(AccountToken.purpose))
    )
    row = spent.first()
    if row is None or row[0] is None:
        raise Invalid(_SPENT, loc=["body", "token"])
    return row[0], row[1], row[2]


async def confirm_reset(session: AsyncSession, *, token: str, new: str, settings: Settings) -> None:
    """Set the new password and end every session of the member's (whoever had the old password
    may hold one), with every other way in `change_password` ends. Invalid for a spent, expired
    or unknown token, or a refused password."""
    check_new_password(new, min_length=settings.password_min_length, field="new_password")
    member_id, email, _ = await _spend(session, token=token, purposes=(TokenPurpose.password_reset,))
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
    mail = render("verify_email", name=None, link=link, hours=ttl // 3600)  # unproven, always
    await _mail(session, settings, to=member.email, mail=mail, kind="mail.verify_email")


async def request_email_change(
    session: AsyncSession, *, member: Member, password: str, new_email: str, settings: Settings
) -> None:
    """Mail a one-time link to `new_email` (canonical already) and tell the account's address.
    The account keeps its address until the link is followed (`verify_email`).

    Forbidden when the password is wrong; Invalid when `new_email` is the account's already;
    Conflict when another account has it (what sign-up says too, no more). A newer request
    voids an older one's link."""
    if "\x00" in password or not await verify_password(password, member.password_hash):
        raise Forbidden("The password is not correct.")
    if new_email == member.email:
        raise Invalid("This is the account's address already.", loc=["body", "new_email"])
    if (await session.exec(select(Member.id).where(col(Member.email) == new_email))).first() is not None:
        raise Conflict(TAKEN)
    await _retire(session, member_id=member.id, purposes=(TokenPurpose.change_email,))
    ttl = settings.email_change_ttl_seconds
    token = await _mint(
        session, member_id=member.id, purpose=TokenPurpose.change_email, email=new_email, ttl=ttl
    )
    link = f"{settings.public_base_url.rstrip('/')}/verify-email?token={token}"
    hours = max(1, ttl // 3600)
    confirm = render("email_change", name=None, link=link, hours=hours)  # to an unproven address
    await _mail(session, settings, to=new_email, mail=confirm, kind="mail.email_change")
    notice = render("email_change_notice", name=_greeting_name(member), masked=masked(new_email), hours=hours)
    await _mail(session, settings, to=member.email, mail=notice, kind="mail.email_change_notice")


async def verify_email(session: AsyncSession, *, token: str) -> None:
    """Follow a verification link: the address it was sent to is verified, or, for a change of
    address, becomes the account's (verified). Invalid for a spent, expired or unknown token;
    Conflict when the new address was taken meanwhile (the token stays unspent)."""
    purposes = (TokenPurpose.verify_email, TokenPurpose.change_email)
    member_id, email, purpose = await _spend(session, token=token, purposes=purposes)
    if purpose == TokenPurpose.change_email:
        await _take_address(session, member_id=member_id, email=email)
    else:
        await _mark_verified(session, member_id=member_id, email=email)


async def _take_address(session: AsyncSession, *, member_id: uuid.UUID, email: str) -> None:
    now = utcnow()
    try:
        async with savepoint(session):
            changed = await session.exec(
                update(Member)
                .where(col(Member.id) == member_id, col(Member.erased_at).is_(None))
                .values(email=email, email_verified_at=now, updated_at=now)
            )
    except IntegrityError:
        # Another account took it between the request and the link (addresses are unique).
        raise Conflict(TAKEN) from None
    if changed.rowcount != 1:
        raise Invalid(_SPENT, loc=["body", "token"])
    # Links mailed to the old address (a reset, a verification) no longer reach the account's owner.
    await _retire(session, member_id=member_id, purposes=tuple(TokenPurpose))


async def _mark_verified(session: AsyncSession, *, member_id: uuid.UUID, email: str) -> None:
    # Only while the address is still the one the link was sent to.
    await session.exec(
        update(Member)
        .where(
            col(Member.id) == member_id, col(Member.email) == email, col(Member.email_verified_at).is_(None)
        )
        .values(email_verified_at=utcnow())
    )
