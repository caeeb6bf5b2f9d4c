"""Resolving the caller once per request, rate limiting it, and the guards routes declare."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer

from app.auth import standing, trust
from app.auth.callers import Caller
from app.auth.ratelimit import RateLimiter
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import Forbidden, NotFound, Unauthorized
from app.core.security import KEY_PREFIX, access_token_expiry, decode_access_token
from app.members import service as members
from app.members import sessions
from app.members.models import Member
from app.organizations import service as organizations
from app.organizations.models import Scope

# Two schemes over the same header: Swagger's Authorize offers the login form (members) and a
# paste box (a member token or an `ma_` API key).
oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/v1/auth/token", auto_error=False, description="Member login with email and password."
)
bearer_scheme = HTTPBearer(
    auto_error=False, description="A member access token, or a partner API key (`ma_...`)."
)

# For operations that anonymous callers may use too: an empty requirement tells clients (and
# Swagger) that the credential is optional there.
ANONYMOUS_WELCOME: dict[str, object] = {"security": [{}]}


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def limiter(request: Request) -> RateLimiter:
    rate_limiter: RateLimiter = request.app.state.rate_limiter
    return rate_limiter


async def _refuse(request: Request, detail: str) -> Unauthorized:
    """A bad credential counts against the client address's strict failure budget."""
    rl = limiter(request)
    await rl.hit(rl.auth_failures, f"auth-failure:{client_address(request)}")
    return Unauthorized(detail)


async def resolve_caller(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    oauth_token: Annotated[str | None, Depends(oauth2_scheme)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Caller:
    token = oauth_token or (bearer.credentials if bearer else None)
    if token is None:
        return Caller()
    # Only bad credentials count against the address: a shared address (a library, a shelter)
    # must not lock out members whose tokens are valid.
    if token.startswith(KEY_PREFIX):
        key = await organizations.authenticate_key(session, secret=token)
        if key is None:
            raise await _refuse(request, "The API key is invalid or has been revoked.")
        # A key acts for its organisation with the rights of the coordinator who made it, and
        # for no longer than they hold them: suspended, or no longer its coordinator (demoted,
        # removed), the key stops from the next request, as their own token would; it works again
        # when they do. Otherwise whoever made a key could keep acting for the organisation
        # through it after their role ended.
        creator = await members.get_member(session, member_id=key.created_by)
        if creator is None or not standing.allowed(creator):
            raise Unauthorized("The API key's creator is suspended; the key works again on reinstatement.")
        if key.organization_id not in await organizations.coordinated_by(session, member_id=creator.id):
            raise Unauthorized(
                "The API key's creator is no longer a coordinator of its organization; "
                "a coordinator can create a new key."
            )
        return Caller(key=key)
    claims = decode_access_token(token, settings)
    member = await sessions.member_of(session, member_id=claims[0], session_id=claims[1]) if claims else None
    if member is None or claims is None:
        raise await _refuse(request, "The access token is invalid, expired, or its session has ended.")
    if not standing.allowed(member):
        raise members.Suspended()
    coordinator_of = await organizations.coordinated_by(session, member_id=member.id)
    return Caller(member=member, coordinator_of=coordinator_of, session_id=claims[1])


AnyCaller = Annotated[Caller, Depends(resolve_caller)]


async def rate_limit(request: Request, response: Response, caller: AnyCaller) -> None:
    rl = limiter(request)
    if caller.key_id is not None:
        item = rl.per_key
    elif caller.member_id is not None:
        item = rl.per_member
    else:
        item = rl.per_anonymous
    identity = caller.identity if not caller.is_anonymous else f"address:{client_address(request)}"
    response.headers.update(await rl.hit(item, identity))


def scoped(*scopes: Scope, anonymous: bool = False) -> Callable[[Caller], Awaitable[Caller]]:
    """A member, or an API key holding every one of `scopes`; anonymous callers too when `anonymous`."""

    async def dependency(caller: AnyCaller) -> Caller:
        if caller.is_anonymous and not anonymous:
            raise Unauthorized("This operation needs a member access token or an API key.")
        for scope in scopes:
            if not caller.has_scope(scope):
                raise Forbidden(f"This API key lacks the {scope} scope.")
        return caller

    return dependency


async def member_only(caller: AnyCaller) -> Member:
    if caller.key is not None:
        raise Forbidden("API keys act for their organization, never as a member.")
    if caller.member is None:
        raise Unauthorized("This operation needs a member access token.")
    return caller.member


async def member_caller(caller: AnyCaller, _member: Annotated[Member, Depends(member_only)]) -> Caller:
    return caller


def coordinator_only(caller: Caller, organization_id: uuid.UUID) -> Member:
    """An organisation's private parts exist only for its coordinators; its own keys may see
    that they exist but never manage keys or read the audit."""
    if caller.is_anonymous:
        raise Unauthorized("This operation needs a coordinator's access token.")
    if not caller.acts_for(organization_id):
        raise NotFound("No such organization, or you are not its coordinator.")
    if caller.member is None:
        raise Forbidden("API keys cannot do this; a coordinator must.")
    return caller.member


def organization_agent(caller: Caller, organization_id: uuid.UUID, scope: Scope) -> Caller:
    """Its coordinators, or its own keys holding `scope`. Anyone else learns nothing of it (404);
    a key of its own without the scope is told what it lacks (403)."""
    if caller.is_anonymous:
        raise Unauthorized("This operation needs a coordinator's access token or an API key.")
    if not caller.acts_for(organization_id):
        raise NotFound("No such organization, or you are not its coordinator.")
    if not caller.has_scope(scope):
        raise Forbidden(f"This API key lacks the {scope} scope.")
    return caller


async def trust_of(caller: AnyCaller, session: SessionDep, settings: SettingsDep) -> trust.Trust:
    """The caller's trust tier and its limits (app.auth.trust)."""
    return await trust.resolve(session, caller=caller, settings=settings)


TrustDep = Annotated[trust.Trust, Depends(trust_of)]


async def token_expiry(
    settings: SettingsDep,
    _member: Annotated[Member, Depends(member_only)],
    oauth_token: Annotated[str | None, Depends(oauth2_scheme)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> datetime:
    """When the calling member's access token stops working (UTC): a response that lasts (a
    notification stream) ends then, so no credential outlives itself on an open connection."""
    token = oauth_token or (bearer.credentials if bearer else None)
    expires = access_token_expiry(token, settings) if token else None
    if expires is None:  # member_only accepted it a moment ago; kept for the types' sake
        raise Unauthorized("The access token is invalid or has expired.")
    return expires


async def platform_admin(caller: AnyCaller) -> Member:
    """A platform admin's own access token: keys never moderate, and members who are not admins
    are told so (403), as the operation itself is no secret."""
    member = await member_only(caller)
    if not member.platform_admin:
        raise Forbidden("Only platform admins can do this.")
    return member


CurrentMember = Annotated[Member, Depends(member_only)]
TokenExpiry = Annotated[datetime, Depends(token_expiry)]
PlatformAdmin = Annotated[Member, Depends(platform_admin)]
MemberCaller = Annotated[Caller, Depends(member_caller)]

# Scope guards that more than one domain's routes declare.
MatchReader = Annotated[Caller, Depends(scoped(Scope.matches_read))]
OfferReader = Annotated[Caller, Depends(scoped(Scope.offers_read))]
