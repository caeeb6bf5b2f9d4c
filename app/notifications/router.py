"""A member's notifications: the inbox, marking read, the live stream, and settings."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from sse_starlette import EventSourceResponse

from app.auth.deps import CurrentMember, TokenExpiry
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import problems
from app.core.pagination import Cursor, Limit, Page
from app.core.timeutil import utcnow
from app.idempotency.replays import replayed_by, verbatim
from app.notifications import service
from app.notifications.models import MarkRead, NotificationPublic, NotificationSettingsBody
from app.notifications.stream import notification_events
from app.notifications.wakeups import Wakeups

router = APIRouter(tags=["notifications"])

_MEMBER_ERRORS = problems(401, 403, 422)


@router.get("/notifications", response_model=Page[NotificationPublic], responses=_MEMBER_ERRORS)
async def list_notifications(
    member: CurrentMember,
    session: SessionDep,
    unread: Annotated[bool | None, Query(description="true: unread only; false: read only.")] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Page[NotificationPublic]:
    """The caller's notifications, newest first (`next_cursor` pages back in time)."""
    rows, next_cursor = await service.inbox(
        session, member_id=member.id, unread=unread, limit=limit, cursor=cursor
    )
    items = [NotificationPublic.model_validate(r, from_attributes=True) for r in rows]
    return Page[NotificationPublic](items=items, next_cursor=next_cursor)


@router.post("/notifications/read", status_code=204, responses=_MEMBER_ERRORS)
@replayed_by(verbatim)
async def mark_notifications_read(body: MarkRead, member: CurrentMember, session: SessionDep) -> Response:
    """Mark `ids` (at most 500) or `all` of the caller's notifications read. Ids that are not the
    caller's are ignored, exactly like ids that do not exist: neither is revealed."""
    await service.mark_read(session, member_id=member.id, body=body)
    return Response(status_code=204)


_STREAM_DOC = {
    200: {
        "description": "`text/event-stream`: one event per notification (`id:` its id, `data:` "
        "the notification as JSON), and a comment line at least every 15 s.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    **problems(401, 403, 422),
}


@router.get("/notifications/stream", response_class=EventSourceResponse, responses=_STREAM_DOC)
async def stream_notifications(
    request: Request,
    member: CurrentMember,
    session: SessionDep,
    settings: SettingsDep,
    expires: TokenExpiry,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            max_length=100,
            description="The id of the last event received: the stream resumes right after it.",
        ),
    ] = None,
) -> EventSourceResponse:
    """Server-Sent Events: the caller's notifications as they happen. Without `Last-Event-ID`
    it starts from now (read the inbox for what came before). The stream ends when the access
    token expires, or after `NOTIFICATION_STREAM_MAX_SECONDS` (an hour by default): reconnect
    with a fresh token and `Last-Event-ID`. Proxies must not buffer it (docs/notifications.md)."""
    ends_at = min(expires, utcnow() + timedelta(seconds=settings.notification_stream_max_seconds))
    # Read before the answer starts: whatever commits after the client has the headers is sent.
    seq = await service.resume_point(session, member_id=member.id, last_event_id=last_event_id)
    wakeups: Wakeups = request.app.state.notification_wakeups
    events = notification_events(
        sessions=request.app.state.sessionmaker,
        wakeups=wakeups,
        settings=settings,
        member_id=member.id,
        after_seq=seq,
        ends_at=ends_at,
    )
    return EventSourceResponse(
        events,
        ping=settings.notification_heartbeat_seconds,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/members/me/notification-settings",
    response_model=NotificationSettingsBody,
    responses=problems(401, 403),
)
async def read_notification_settings(member: CurrentMember, session: SessionDep) -> NotificationSettingsBody:
    """The caller's settings; the defaults (email on, push off, alerts off, UTC) until changed."""
    return await service.get_settings(session, member_id=member.id)


@router.put(
    "/members/me/notification-settings",
    response_model=NotificationSettingsBody,
    responses=_MEMBER_ERRORS,
)
async def replace_notification_settings(
    body: NotificationSettingsBody, member: CurrentMember, session: SessionDep
) -> NotificationSettingsBody:
    """Replace the caller's settings whole; a field left out takes its default."""
    return await service.put_settings(session, member_id=member.id, body=body)
