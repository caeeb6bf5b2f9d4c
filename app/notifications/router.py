"""A member's notifications: the inbox, marking read, the live stream, and settings."""

import html
import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import HTMLResponse
from sse_starlette import EventSourceResponse

from app.auth.deps import ANONYMOUS_WELCOME, CurrentMember, MemberCaller, TokenExpiry
from app.core.config import Settings
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import Invalid, problems
from app.core.pagination import Cursor, Limit, Page
from app.core.timeutil import utcnow
from app.idempotency.replays import replayed_by, verbatim
from app.notifications import service, subscriptions, unsubscribe
from app.notifications.hub import StreamHub
from app.notifications.models import (
    MarkRead,
    NotificationPublic,
    NotificationSettingsBody,
    NotificationSettingsView,
    PushPublicKey,
    PushSubscriptionCreate,
    PushSubscriptionPublic,
    UnsubscribeState,
)
from app.notifications.stream import notification_events
from app.webhooks.models import PushSubscription

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
    caller: MemberCaller,
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
    with a fresh token and `Last-Event-ID`. It ends within a heartbeat when the token's login
    ends (a logout, a password change, a revoked session) or the member is suspended, as the
    token then gets 401. Proxies must not buffer it (docs/notifications.md)."""
    assert caller.member_id is not None  # MemberCaller admits members only
    ends_at = min(expires, utcnow() + timedelta(seconds=settings.notification_stream_max_seconds))
    # Read before the answer starts: whatever commits after the client has the headers is sent.
    seq = await service.resume_point(session, member_id=caller.member_id, last_event_id=last_event_id)
    hub: StreamHub = request.app.state.notification_streams
    events = notification_events(
        hub=hub, member_id=caller.member_id, after_seq=seq, ends_at=ends_at, session_id=caller.session_id
    )
    return EventSourceResponse(
        events,
        ping=settings.notification_heartbeat_seconds,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/members/me/notification-settings",
    response_model=NotificationSettingsView,
    responses=problems(401, 403),
)
async def read_notification_settings(member: CurrentMember, session: SessionDep) -> NotificationSettingsView:
    """The caller's settings; the defaults (email on, push off, alerts off, UTC) until changed."""
    return await service.get_settings(session, member_id=member.id)


@router.put(
    "/members/me/notification-settings",
    response_model=NotificationSettingsView,
    responses=_MEMBER_ERRORS,
)
async def replace_notification_settings(
    body: NotificationSettingsBody, member: CurrentMember, session: SessionDep
) -> NotificationSettingsView:
    """Replace the caller's settings whole; a field left out takes its default."""
    return await service.put_settings(session, member_id=member.id, body=body)


@router.get(
    "/push/public-key",
    response_model=PushPublicKey,
    tags=["notifications"],
    openapi_extra=ANONYMOUS_WELCOME,
)
async def read_push_public_key(session: SessionDep, settings: SettingsDep) -> PushPublicKey:
    """The VAPID key (RFC 8292) a browser subscribes with: `VAPID_PRIVATE_KEY`'s public half, or
    the key the service made on first use and keeps (the same from every process)."""
    return PushPublicKey(public_key=await subscriptions.public_key(session, settings))


def _subscription(row: PushSubscription) -> PushSubscriptionPublic:
    return PushSubscriptionPublic.model_validate(row, from_attributes=True)


@router.get(
    "/members/me/push-subscriptions",
    response_model=list[PushSubscriptionPublic],
    responses=problems(401, 403),
)
async def list_push_subscriptions(member: CurrentMember, session: SessionDep) -> list[PushSubscriptionPublic]:
    """The caller's browsers that take push, oldest first (never their keys)."""
    return [_subscription(r) for r in await subscriptions.list_own(session, member_id=member.id)]


@router.post(
    "/members/me/push-subscriptions",
    status_code=201,
    response_model=PushSubscriptionPublic,
    responses=_MEMBER_ERRORS,
)
@replayed_by(verbatim)
async def create_push_subscription(
    body: PushSubscriptionCreate,
    member: CurrentMember,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
) -> PushSubscriptionPublic:
    """Keep a browser's Web Push subscription (`PushSubscription.toJSON()`), so notifications
    reach it while `push` is on in the caller's settings. The endpoint must be https on a
    public address; `p256dh` a P-256 point and `auth` 16 bytes (RFC 8291), else 422. The same
    endpoint again updates its keys and answers the same id (under another account, the
    browser moves to that account)."""
    row = await subscriptions.subscribe(
        session, member_id=member.id, body=body, allow_private=settings.webhook_allow_private_targets
    )
    response.headers["Location"] = f"/v1/members/me/push-subscriptions/{row.id}"
    return _subscription(row)


@router.delete(
    "/members/me/push-subscriptions/{subscription_id}",
    status_code=204,
    responses=problems(401, 403, 404, 422),
)
async def delete_push_subscription(
    subscription_id: uuid.UUID, member: CurrentMember, session: SessionDep
) -> Response:
    """Stop pushing to this browser; pushes still waiting for it are dropped. 404 for an id
    that is not one of the caller's."""
    await subscriptions.remove(session, member_id=member.id, subscription_id=subscription_id)
    return Response(status_code=204)


_UNSUBSCRIBE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The member's mail setting now: JSON, or a page for a browser (`Accept: text/html`).",
        "content": {"text/html": {"schema": {"type": "string"}}},
    },
    **problems(422),
}
UnsubscribeToken = Annotated[
    str,
    Query(
        min_length=1,
        max_length=200,
        description="The token from the mail's `List-Unsubscribe` link; no login is needed.",
    ),
]
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Mutual Aid mail</title></head>
<body><p>{message}</p>{form}</body></html>
"""
_FORM = """<form method="post" action="?token={token}">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Stop notification mail</button></form>"""


def _member_of_link(token: str, settings: Settings) -> uuid.UUID:
    member_id = unsubscribe.member_of(token, settings.jwt_secret)
    if member_id is None:
        raise Invalid("This unsubscribe link is not valid.", loc=["query", "token"])
    return member_id


def _answer(
    request: Request, response: Response, state: UnsubscribeState, token: str
) -> UnsubscribeState | HTMLResponse:
    if "text/html" not in request.headers.get("accept", ""):
        response.headers["Cache-Control"] = "no-store"  # the link is a credential; keep no copy
        return state
    form = _FORM.format(token=html.escape(token, quote=True)) if state.email else ""
    return HTMLResponse(
        _PAGE.format(message=html.escape(state.detail), form=form), headers={"Cache-Control": "no-store"}
    )


@router.get(
    "/notifications/unsubscribe",
    response_model=UnsubscribeState,
    responses=_UNSUBSCRIBE_DOC,
    openapi_extra=ANONYMOUS_WELCOME,
)
async def read_unsubscribe(
    token: UnsubscribeToken, request: Request, response: Response, session: SessionDep, settings: SettingsDep
) -> Any:
    """Where a notification mail's unsubscribe link leads: says whether the mail is on, and
    changes nothing (RFC 8058: only the POST does; a link scanner's GET must not)."""
    member_id = _member_of_link(token, settings)
    email = (await service.get_settings(session, member_id=member_id)).email
    detail = (
        "Notification mail is on. Send POST to this address to turn it off."
        if email
        else "Notification mail is off."
    )
    return _answer(request, response, UnsubscribeState(email=email, detail=detail), token)


@router.post(
    "/notifications/unsubscribe",
    response_model=UnsubscribeState,
    responses=_UNSUBSCRIBE_DOC,
    openapi_extra=ANONYMOUS_WELCOME,
)
@replayed_by(verbatim)
async def unsubscribe_from_mail(
    token: UnsubscribeToken, request: Request, response: Response, session: SessionDep, settings: SettingsDep
) -> Any:
    """RFC 8058 one-click unsubscribe: turns the link's member's notification mail off (their
    other settings stay). No credential; the body (`List-Unsubscribe=One-Click`) is not read.
    The same answer again changes nothing. Turn it back on in the notification settings."""
    await service.turn_off_mail(session, member_id=_member_of_link(token, settings))
    state = UnsubscribeState(
        email=False, detail="Notification mail is off. Turn it on again in your settings."
    )
    return _answer(request, response, state, token)
