"""Member sign-up, login, profile, and account security: sessions, passwords, email verification."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.security import OAuth2PasswordRequestForm

from app.auth.deps import ANONYMOUS_WELCOME, CurrentMember, MemberCaller, client_address, limiter
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import Forbidden, NotFound, Unauthorized, problems
from app.core.openapi import link, links
from app.core.pagination import Cursor, Limit, Page
from app.core.security import hash_token
from app.idempotency.openapi import NOT_STORED
from app.idempotency.replays import replayed_by, verbatim
from app.members import recovery, service, sessions
from app.members.accounts import (
    EmailChange,
    EmailVerification,
    PasswordChange,
    PasswordResetConfirm,
    PasswordResetRequest,
    RefreshRequest,
    SessionPublic,
)
from app.members.models import MemberCreate, MemberPrivate, MemberUpdate, Token

router = APIRouter(tags=["members"])


@router.post(
    "/members",
    status_code=201,
    response_model=MemberPrivate,
    responses={
        **problems(409, 422),
        # The new member logs in with what they signed up with.
        **links(
            201,
            Login=link(
                "login", body={"username": "$request.body#/email", "password": "$request.body#/password"}
            ),
        ),
    },
    openapi_extra=ANONYMOUS_WELCOME,
)
@replayed_by(verbatim)
async def create_member(
    data: MemberCreate, session: SessionDep, settings: SettingsDep, response: Response
) -> MemberPrivate:
    """Sign up. Anyone can both ask for help and offer it. The password must be at least
    `PASSWORD_MIN_LENGTH` characters and not a common one (422 says which)."""
    member = await service.create_member(session, data=data, settings=settings)
    response.headers["Location"] = "/v1/members/me"  # where the new member reads it, once logged in
    return MemberPrivate.of(member)


# An access token must never be at rest, so this response is never kept for an Idempotency-Key.
@router.post(
    "/auth/token",
    response_model=Token,
    tags=["auth"],
    responses=problems(401, 422, 429),
    openapi_extra={**ANONYMOUS_WELCOME, **NOT_STORED},
)
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> Token:
    """OAuth2 password flow: `username` is the member's email. Starts a session: a short-lived
    access token and a single-use `refresh_token` (`POST /v1/auth/refresh`). Failed attempts are
    rate limited per client address, far more strictly than other calls."""
    # `grant_type`, when sent, is "password" (RFC 6749, section 4.3.2; the form's pattern). FastAPI
    # reads an empty form value as an absent one, so `grant_type=` alone passed as if unsent.
    sent = (await request.form()).get("grant_type")
    if sent is not None and sent != "password":  # answered as FastAPI answers any other value
        pattern = "String should match pattern '^password$'"
        raise RequestValidationError(
            [{"loc": ("body", "grant_type"), "msg": pattern, "type": "string_pattern_mismatch"}]
        )
    rl, failures = limiter(request), f"auth-failure:{client_address(request)}"
    await rl.check(rl.auth_failures, failures)
    try:
        member = await service.authenticate(session, email=form.username, password=form.password)
    except service.Suspended:
        raise  # the right password: not a failed attempt
    except Unauthorized:
        await rl.hit(rl.auth_failures, failures)
        raise
    issued = await sessions.start(
        session, member=member, user_agent=request.headers.get("user-agent"), settings=settings
    )
    return Token(
        access_token=issued.access_token, refresh_token=issued.refresh_token, expires_in=issued.expires_in
    )


@router.get("/members/me", response_model=MemberPrivate, responses=problems(401, 403))
async def read_me(member: CurrentMember) -> MemberPrivate:
    return MemberPrivate.of(member)


@router.patch("/members/me", response_model=MemberPrivate, responses=problems(401, 403, 422))
async def update_me(data: MemberUpdate, member: CurrentMember, session: SessionDep) -> MemberPrivate:
    member = await service.update_member(session, member=member, data=data)
    return MemberPrivate.of(member)


@router.post(
    "/auth/refresh",
    response_model=Token,
    tags=["auth"],
    responses=problems(401, 422, 429),
    openapi_extra={**ANONYMOUS_WELCOME, **NOT_STORED},
)
async def refresh(
    data: RefreshRequest, session: SessionDep, settings: SettingsDep, request: Request
) -> Token:
    """Trade a refresh token for a new access token and a new refresh token; the one sent is
    spent. Sending a spent one again ends its whole session (someone else holds a copy): 401."""
    rl, failures = limiter(request), f"auth-failure:{client_address(request)}"
    await rl.check(rl.auth_failures, failures)
    try:
        issued = await sessions.refresh(session, token=data.refresh_token, settings=settings)
    except service.Suspended:
        raise  # a good token of a suspended account: not a failed attempt
    except Unauthorized:
        await rl.hit(rl.auth_failures, failures)
        raise
    return Token(
        access_token=issued.access_token, refresh_token=issued.refresh_token, expires_in=issued.expires_in
    )


@router.post("/auth/logout", status_code=204, tags=["auth"], responses=problems(401, 403))
@replayed_by(verbatim)  # no body, or one that names no one
async def logout(caller: MemberCaller, session: SessionDep) -> Response:
    """End the session of the token making this request: its access and refresh tokens are
    refused from the next request on."""
    assert caller.member_id is not None
    assert caller.session_id is not None
    await sessions.revoke(session, member_id=caller.member_id, session_id=caller.session_id)
    return Response(status_code=204)


@router.get("/members/me/sessions", response_model=Page[SessionPublic], responses=problems(401, 403, 422))
async def my_sessions(
    caller: MemberCaller, session: SessionDep, limit: Limit = 20, cursor: Cursor = None
) -> Page[SessionPublic]:
    """Your live sessions, newest first; `current` marks the one making this request."""
    assert caller.member_id is not None
    rows, next_cursor = await sessions.list_live(
        session, member_id=caller.member_id, limit=limit, cursor=cursor
    )
    items = [
        SessionPublic(
            id=r.id,
            created_at=r.created_at,
            last_used_at=r.last_used_at,
            user_agent=r.user_agent,
            current=r.id == caller.session_id,
        )
        for r in rows
    ]
    return Page[SessionPublic](items=items, next_cursor=next_cursor)


@router.delete("/members/me/sessions/{session_id}", status_code=204, responses=problems(401, 403, 404))
async def end_session(session_id: uuid.UUID, caller: MemberCaller, session: SessionDep) -> Response:
    """End one of your sessions (a lost phone). 404 if it is not a live session of yours."""
    assert caller.member_id is not None
    if not await sessions.revoke(session, member_id=caller.member_id, session_id=session_id):
        raise NotFound("No such session of yours.")
    return Response(status_code=204)


@router.post("/members/me/password", status_code=204, responses=problems(401, 403, 422, 429))
@replayed_by(verbatim)  # no body, or one that names no one
async def change_password(
    data: PasswordChange, caller: MemberCaller, session: SessionDep, settings: SettingsDep, request: Request
) -> Response:
    """Change your password (403 if `current_password` is wrong; 422 if the new one is blank,
    too short or common). Every other session ends; this one goes on."""
    assert caller.member is not None
    rl, failures = limiter(request), f"auth-failure:{client_address(request)}"
    await rl.check(rl.auth_failures, failures)
    try:
        await recovery.change_password(
            session,
            member=caller.member,
            current=data.current_password,
            new=data.new_password,
            keep=caller.session_id,
            settings=settings,
        )
    except Forbidden:
        # A stolen access token must not become a way to guess the password.
        await rl.hit(rl.auth_failures, failures)
        raise
    return Response(status_code=204)


@router.post(
    "/auth/password-reset",
    status_code=202,
    response_class=Response,  # no body: nothing that could differ by address
    tags=["auth"],
    responses=problems(422, 429),
    openapi_extra=ANONYMOUS_WELCOME,
)
@replayed_by(verbatim)  # no body, or one that names no one
async def request_password_reset(
    data: PasswordResetRequest, session: SessionDep, settings: SettingsDep, request: Request
) -> Response:
    """Mail a one-time link to reset the password. Always 202, with nothing else said: the
    answer never tells whether an account uses the address. At most `RATE_LIMIT_RESET_MAIL`
    mails go to one address; past that the answer is the same and nothing is sent."""
    rl = limiter(request)
    # Keyed by a hash: the limiter's store (Redis) never holds an address.
    within = await rl.allow(rl.reset_mail, f"reset-mail:{hash_token(data.email)}")
    await recovery.request_reset(session, email=data.email, settings=settings, send=within)
    return Response(status_code=202)


@router.post(
    "/auth/password-reset/confirm",
    status_code=204,
    tags=["auth"],
    responses=problems(422, 429),
    openapi_extra=ANONYMOUS_WELCOME,
)
@replayed_by(verbatim)  # no body, or one that names no one
async def confirm_password_reset(
    data: PasswordResetConfirm, session: SessionDep, settings: SettingsDep
) -> Response:
    """Set a new password with the mailed link's `token`; every session of the account ends.
    A used, expired or unknown token is a 422 naming `token`."""
    await recovery.confirm_reset(session, token=data.token, new=data.new_password, settings=settings)
    return Response(status_code=204)


@router.post(
    "/members/me/email-verification",
    status_code=202,
    response_class=Response,
    responses=problems(401, 403, 409, 429),
)
@replayed_by(verbatim)  # no body, or one that names no one
async def send_email_verification(
    caller: MemberCaller, session: SessionDep, settings: SettingsDep, request: Request
) -> Response:
    """Mail a one-time link proving the address is yours (409 if it is verified already). The
    address is one nobody has proven yet, so its mail has a budget per address, as resets have
    (`RATE_LIMIT_RESET_MAIL`, counted apart from them, so nobody spends it by asking for resets):
    past it, 429 with `Retry-After`."""
    assert caller.member is not None
    rl, budget = limiter(request), f"verify-mail:{hash_token(caller.member.email)}"
    # The 409 first; the mail is queued in this request's transaction, so a 429 unqueues it.
    await recovery.send_verification(session, member=caller.member, settings=settings)
    await rl.check(rl.reset_mail, budget)
    await rl.hit(rl.reset_mail, budget)
    return Response(status_code=202)


@router.post(
    "/members/me/email",
    status_code=202,
    response_class=Response,
    responses=problems(401, 403, 409, 422, 429),
)
@replayed_by(verbatim)  # no body, or one that names no one
async def change_email(
    data: EmailChange, caller: MemberCaller, session: SessionDep, settings: SettingsDep, request: Request
) -> Response:
    """Change your address: `password` is your current one (403 if wrong), `new_email` is
    normalised as at sign-up (409 if another account has it). A one-time link goes to the new
    address (`/verify-email?token=`, valid `EMAIL_CHANGE_TTL_SECONDS`); the change happens when
    `POST /v1/auth/verify-email` takes its token, and the new address is then verified. Your
    current address is told, with the new one masked. Until then nothing changes; a newer
    request, or a password change, voids the link."""
    assert caller.member is not None
    rl, failures = limiter(request), f"auth-failure:{client_address(request)}"
    await rl.check(rl.auth_failures, failures)
    # Mail to any one address is budgeted as resets are: no one floods a mailbox through this.
    await rl.check(rl.reset_mail, f"reset-mail:{hash_token(data.new_email)}")
    try:
        await recovery.request_email_change(
            session, member=caller.member, password=data.password, new_email=data.new_email, settings=settings
        )
    except Forbidden:
        await rl.hit(rl.auth_failures, failures)
        raise
    await rl.hit(rl.reset_mail, f"reset-mail:{hash_token(data.new_email)}")
    return Response(status_code=202)


@router.post(
    "/auth/verify-email",
    status_code=204,
    tags=["auth"],
    responses=problems(409, 422, 429),
    openapi_extra=ANONYMOUS_WELCOME,
)
@replayed_by(verbatim)  # no body, or one that names no one
async def verify_email(data: EmailVerification, session: SessionDep) -> Response:
    """Mark the address verified with the mailed link's `token` (422 if used, expired or unknown).
    For a link sent by a change of address, the account takes that address now, verified (409
    if another account took it meanwhile)."""
    await recovery.verify_email(session, token=data.token)
    return Response(status_code=204)
