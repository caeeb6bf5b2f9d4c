"""Who is calling: the member behind a bearer token, if any."""

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer

from app.core.deps import SessionDep, SettingsDep
from app.core.errors import Unauthorized
from app.core.security import decode_access_token
from app.members import service
from app.members.models import Member

# Two schemes over the same header, so Swagger's Authorize offers the login form and a paste box.
oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/v1/auth/token", auto_error=False, description="Member login with email and password."
)
bearer_scheme = HTTPBearer(auto_error=False, description="Paste a member access token.")


async def optional_member(
    session: SessionDep,
    settings: SettingsDep,
    oauth_token: Annotated[str | None, Depends(oauth2_scheme)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Member | None:
    token = oauth_token or (bearer.credentials if bearer else None)
    if token is None:
        return None
    member_id = decode_access_token(token, settings)
    member = await service.get_member(session, member_id=member_id) if member_id else None
    if member is None:
        raise Unauthorized("The access token is invalid or has expired.")
    return member


async def current_member(member: Annotated[Member | None, Depends(optional_member)]) -> Member:
    if member is None:
        raise Unauthorized("This operation needs a member access token.")
    return member


OptionalMember = Annotated[Member | None, Depends(optional_member)]
CurrentMember = Annotated[Member, Depends(current_member)]
