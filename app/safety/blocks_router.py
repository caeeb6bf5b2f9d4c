"""HTTP routes for member blocks: thin, the rule lives in app.safety.blocks."""

import uuid

from fastapi import APIRouter, Response

from app.auth.deps import CurrentMember
from app.core.deps import SessionDep
from app.core.errors import problems
from app.core.pagination import Cursor, Limit, Page
from app.safety import blocks
from app.safety.models import BlockView

router = APIRouter(prefix="/members/me/blocks", tags=["safety"])


@router.put("/{member_id:uuid}", status_code=204, responses=problems(401, 403, 404, 422))
async def block_member(member_id: uuid.UUID, member: CurrentMember, session: SessionDep) -> Response:
    """Block a member: from now on neither of you meets the other anywhere (candidates,
    opportunities, batch runs, claims, proposals), each one's needs and offers are 404 to the
    other, and your open matches with them are cancelled (their organisation's webhooks hear an
    ordinary `match.cancelled`, reason `unavailable`). They are not told. Blocking again is a
    no-op (204); yourself, 422; an unknown member id, 404."""
    await blocks.block(session, blocker_id=member.id, blocked_id=member_id)
    return Response(status_code=204)


# 404 only for a path that is no member id at all (it matches no route), as for every id path.
@router.delete("/{member_id:uuid}", status_code=204, responses=problems(401, 403, 404, 422))
async def unblock_member(member_id: uuid.UUID, member: CurrentMember, session: SessionDep) -> Response:
    """Lift your block. 204 whether or not you had one (like PUT, it can be repeated, and it
    says nothing about whether the member exists). A block they made stays; cancelled matches
    stay cancelled."""
    await blocks.unblock(session, blocker_id=member.id, blocked_id=member_id)
    return Response(status_code=204)


@router.get("", response_model=Page[BlockView], responses=problems(401, 403, 422))
async def list_blocks(
    member: CurrentMember, session: SessionDep, limit: Limit = 20, cursor: Cursor = None
) -> Page[BlockView]:
    """Members you blocked, newest first (never those who blocked you)."""
    items, next_cursor = await blocks.list_blocks(session, blocker_id=member.id, limit=limit, cursor=cursor)
    return Page[BlockView](items=items, next_cursor=next_cursor)
