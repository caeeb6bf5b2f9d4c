"""Member sign-up, login and profile."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from app.auth.deps import ANONYMOUS_WELCOME, CurrentMember, client_address, limiter
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import Unauthorized, problems
from app.core.openapi import link, links
from app.core.security import create_access_token
from app.idempotency.openapi import NOT_STORED
from app.idempotency.replays import replayed_by, verbatim
from app.members import service
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
async def create_member(data: MemberCreate, session: SessionDep, response: Response) -> MemberPrivate:
    """Sign up. Anyone can both ask for help and offer it."""
    member = await service.create_member(session, data=data)
    response.headers["Location"] = "/v1/members/me"  # where the new member reads it, once logged in
    return MemberPrivate.model_validate(member, from_attributes=True)


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
    """OAuth2 password flow: `username` is the member's email. Failed attempts are rate limited
    per client address, far more strictly than other calls."""
    rl, failures = limiter(request), f"auth-failure:{client_address(request)}"
    await rl.check(rl.auth_failures, failures)
    try:
        member = await service.authenticate(session, email=form.username, password=form.password)
    except Unauthorized:
        await rl.hit(rl.auth_failures, failures)
        raise
    return Token(
        access_token=create_access_token(member.id, settings), expires_in=settings.access_token_ttl_seconds
    )


@router.get("/members/me", response_model=MemberPrivate, responses=problems(401, 403))
async def read_me(member: CurrentMember) -> MemberPrivate:
    return MemberPrivate.model_validate(member, from_attributes=True)


@router.patch("/members/me", response_model=MemberPrivate, responses=problems(401, 403, 422))
async def update_me(data: MemberUpdate, member: CurrentMember, session: SessionDep) -> MemberPrivate:
    member = await service.update_member(session, member=member, data=data)
    return MemberPrivate.model_validate(member, from_attributes=True)
