"""A member's data rights over HTTP: their export, and erasing their account."""

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import StringConstraints, create_model

from app.auth.deps import CurrentMember, MemberCaller, client_address, limiter
from app.core.deps import SessionDep
from app.core.errors import Forbidden, problems
from app.core.schema import RequestBody, request_config
from app.datarights import erasure, export

router = APIRouter(tags=["members"])

# The document's schema follows SECTIONS: a new section is one entry there, nothing here.
MemberExport = create_model(  # type: ignore[call-overload]
    "MemberExport",
    format=(int, ...),
    **dict.fromkeys(export.SECTIONS, (Any, ...)),
)


class Erasure(RequestBody):
    model_config = request_config({"password": "correct horse battery staple"})

    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]


@router.get("/members/me/export", response_model=MemberExport, responses=problems(401, 403))
async def export_me(caller: MemberCaller, session: SessionDep) -> Any:
    """Everything the service holds about you, as one JSON document: your profile (never your
    password's hash), needs, offers, matches as your side sees them, notifications and their
    settings, blocks and reports you made, activities you host or joined, your organisations,
    and who was shown your needs' private details. Never cached (`Cache-Control: no-store`)."""
    return await export.export(session, caller=caller)


@router.delete("/members/me", status_code=204, responses=problems(401, 403, 422, 429))
async def erase_me(data: Erasure, member: CurrentMember, session: SessionDep, request: Request) -> Response:
    """Erase your account, for good: your identity, contact, exact locations and what you wrote
    go; your matches end (the other side is told), open needs are cancelled, offers paused, your
    places on activities given up. Your tokens stop working from the next request.

    A wrong password is 403 (you are signed in, but erasure is final, so it asks for what only
    you know), counted against your address like a failed login; nothing changes."""
    rl, failures = limiter(request), f"auth-failure:{client_address(request)}"
    await rl.check(rl.auth_failures, failures)
    try:
        await erasure.check_password(member, data.password)
    except Forbidden:
        await rl.hit(rl.auth_failures, failures)
        raise
    await erasure.erase(session, member=member)
    return Response(status_code=204)
