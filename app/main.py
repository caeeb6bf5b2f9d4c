"""The application factory: settings, database, middleware, routers and error handlers."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute

from app.activities import hooks as activity_hooks
from app.activities import links as activity_links
from app.activities import moderation as activity_moderation
from app.activities import service as activity_service
from app.activities.router import router as activities_router
from app.audit.router import router as audit_router
from app.auth.deps import AnyCaller, rate_limit
from app.auth.ratelimit import RateLimiter
from app.calendars import service as calendar_service
from app.calendars.router import router as calendars_router
from app.core import routing
from app.core.config import Settings, get_settings
from app.core.db import make_engine, make_sessionmaker
from app.core.deps import SessionDep, SettingsDep
from app.core.docs import install_docs
from app.core.errors import install_problem_handlers, problems
from app.core.http import LimitBodies, SecurityHeaders, body_media_type
from app.core.openapi import install_openapi
from app.datarights.router import router as datarights_router
from app.dispatch import fanout, pairs, runs
from app.dispatch.router import router as dispatch_router
from app.hsds.router import router as hsds_router
from app.idempotency import deps as idempotency
from app.matches import hooks as match_hooks
from app.matches import moderation as match_moderation
from app.matches import service as match_service
from app.matches.router import router as matches_router
from app.members import hooks as member_hooks
from app.members.router import router as members_router
from app.needs import hooks as need_hooks
from app.needs import moderation as need_moderation
from app.needs.router import router as needs_router
from app.notifications import subscriptions as push_subscriptions
from app.notifications.hub import StreamHub
from app.notifications.router import router as notifications_router
from app.notifications.service import CHANNEL as NOTIFICATION_CHANNEL
from app.notifications.wakeups import Wakeups
from app.observability.logs import configure_logging
from app.observability.metrics import forget_this_process
from app.observability.middleware import ObserveRequests
from app.offers import moderation as offer_moderation
from app.offers.router import router as offers_router
from app.ops.probes import FastHealthz
from app.ops.router import router as ops_router
from app.organizations import hooks as organization_hooks
from app.organizations.router import router as organizations_router
from app.safety import blocks, decisions
from app.safety import hooks as safety_hooks
from app.safety.blocks_router import router as blocks_router
from app.safety.catalogue import load_catalogue
from app.safety.router import router as safety_router
from app.webhooks import outbox
from app.webhooks.docs import document_webhooks
from app.webhooks.router import router as webhooks_router
from app.webhooks.vapid import check_configured as check_vapid_key

DESCRIPTION = """
The open backend that mutual aid groups, food banks and community organisations run to connect
people who need help with people who can give it.

Privacy is the product: a need's exact location, address and contact are shown only to its
owner and to volunteers it has accepted; everyone else sees the centre of a ~1 km cell.
Every error is `application/problem+json` (RFC 9457).

Authenticate with `Authorization: Bearer <token>`: a member access token from
`POST /v1/auth/token`, or a partner organisation's API key (`ma_...`), limited by its scopes.
Calls are rate limited per caller; see the `RateLimit-*` headers.

**This service is not medical care or a crisis service.** When a need's title or description
reads as a crisis (suicide, self-harm, abuse, immediate danger), the response to its author
lists helplines from the deployment's catalogue (`resources`); nothing is blocked, stored or
told to anyone else. Anyone in danger should call their local emergency number.
"""

TAGS = [
    {"name": "members", "description": "Sign up and manage your profile."},
    {"name": "auth", "description": "Exchange email and password for an access token."},
    {"name": "needs", "description": "Requests for help, with owner, participant and public views."},
    {"name": "offers", "description": "What volunteers can give; private to the volunteer."},
    {
        "name": "organizations",
        "description": "Mutual aid groups, food banks, their coordinators and API keys.",
    },
    {"name": "matching", "description": "Candidates, opportunities, matches and optimal batch runs."},
    {
        "name": "webhooks",
        "description": "Signed notifications when an organisation's needs and matches change.",
    },
    {
        "name": "notifications",
        "description": "A member's inbox, its live stream (Server-Sent Events) and notification settings.",
    },
    {
        "name": "activities",
        "description": "Group gatherings (walks, support groups, shifts): join, waitlist, calendar.",
    },
    {
        "name": "calendar",
        "description": "A member's personal calendar feed: a secret URL for calendar apps, revocable.",
    },
    {
        "name": "hsds",
        "description": "Organisations and their activities as Open Referral HSDS 3.0, for directories.",
    },
    {"name": "audit", "description": "Who was shown a need's exact location or contact, when, and why."},
    {
        "name": "safety",
        "description": "Blocks, reports and their moderation with statements of reasons, suspensions.",
    },
    {"name": "operations", "description": "Health and readiness probes."},
]


async def admit(
    request: Request, response: Response, caller: AnyCaller, session: SessionDep, settings: SettingsDep
) -> None:
    """Every /v1 call: the caller's rate limit, then its Idempotency-Key. One dependency rather
    than two: FastAPI walks the whole tree under each dependency that names the caller (the
    session, the settings, both credential schemes) even when the caller is already resolved,
    and that walk was a measurable part of a short read's CPU."""
    await rate_limit(request, response, caller)
    await idempotency.idempotency(request, caller, session, settings)


def _operation_id(route: APIRoute) -> str:
    # Stable ids for generated clients: the route function's name.
    return route.name


def connect_domains(settings: Settings) -> None:
    """A lower domain asks a higher one through a hook it declares; here each is filled in, so
    every import still points down (import-linter's contracts in pyproject.toml)."""
    match_hooks.connect(pairs.judge)
    member_hooks.connect(outbox.queue_mail)
    member_hooks.connect_new_password(calendar_service.revoke_feed, push_subscriptions.forget_all)
    need_hooks.connect(
        need_hooks.MatchesOfNeed(
            relation=match_service.relation,
            lock=match_service.lock_for_need,
            end=match_service.cancel_for_need,
        )
    )
    safety_hooks.connect(
        safety_hooks.Domains(
            find={
                "member": match_moderation.find_member,
                "need": need_moderation.find,
                "offer": match_moderation.find_offer,
                "match": match_moderation.find_match,
                "message": match_moderation.find_message,
                "activity": activity_moderation.find,
            },
            remove={
                "need": need_moderation.remove,
                "offer": offer_moderation.remove,
                "match": match_moderation.remove_match,
                "message": match_moderation.remove_message,
                "activity": activity_moderation.remove,
            },
            end_matches=match_moderation.end_for_member,
            resolved=(decisions.tell_parties,),
        )
    )
    need_hooks.connect_published(fanout.queue)
    safety_hooks.connect_parted(match_service.cancel_between, activity_service.part)
    organization_hooks.connect(blocks.may_meet)
    activity_hooks.connect(activity_hooks.ActivityHooks(tell=activity_links.tell))


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    check_vapid_key(settings)
    routing.install()  # route matching that skips the routers a path cannot be under
    connect_domains(settings)
    configure_logging(settings.log_level, json=settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_startup and settings.is_sqlite:
            from app.migrate import upgrade_head

            await anyio.to_thread.run_sync(upgrade_head, settings.database_url)
        routing.warm(app)  # before the first request, which would otherwise build the routes' state
        if settings.matching_process_at_start:
            runs.warm()  # in the background: the server takes requests meanwhile
        yield
        runs.stop_computing()  # queued matching runs cancelled; a long one does not hold the exit
        await app.state.rate_limiter.aclose()
        await app.state.engine.dispose()
        forget_this_process()

    app = FastAPI(
        title="Mutual aid API",
        version="1.0.0",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        generate_unique_id_function=_operation_id,
        lifespan=lifespan,
        # Served by install_docs from this service's own assets, not FastAPI's CDN pages.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings)
    app.state.sessionmaker = make_sessionmaker(app.state.engine, settings)
    app.state.rate_limiter = RateLimiter(settings)
    app.state.notification_wakeups = Wakeups(settings, NOTIFICATION_CHANNEL)
    app.state.notification_streams = StreamHub(
        sessions=lambda: app.state.sessionmaker, wakeups=app.state.notification_wakeups, settings=settings
    )
    app.state.crisis_catalogue = load_catalogue(settings.crisis_resources_file)

    install_problem_handlers(app)
    idempotency.install(app, settings)  # before CORS, so CORS wraps replays too
    # Outside idempotency, which reads the body for its fingerprint; inside CORS, so a browser
    # can read the 413.
    app.add_middleware(LimitBodies)
    # GET /healthz answered here, inside CORS, the request id and the metrics (app/ops/probes.py).
    app.add_middleware(FastHealthz)
    if settings.cors_origins:
        wildcard = "*" in settings.cors_origins
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            # Browsers refuse credentials with "*"; never combine the two.
            allow_credentials=not wildcard,
            allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-Match", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["ETag", "Location", "Retry-After", "Idempotent-Replayed", "X-Request-ID"],
        )
    # Outermost, so every response (CORS preflights and errors too) carries its request id.
    app.add_middleware(ObserveRequests)
    app.add_middleware(SecurityHeaders)  # every answer, the request id's and CORS's included

    # Every /v1 call resolves its caller (a bad credential is a 401 even where anonymous calls
    # are welcome), is rate limited per caller, and needs the database; probes and docs are not.
    # A POST with an Idempotency-Key is then claimed or replayed, whatever router it comes from.
    v1 = APIRouter(
        prefix="/v1",
        # The media type first: a body the route cannot read is refused before anything else.
        dependencies=[Depends(body_media_type), Depends(admit)],
        responses=problems(401, 429, 503),
    )
    for router in (
        members_router,
        datarights_router,
        organizations_router,
        needs_router,
        offers_router,
        matches_router,
        dispatch_router,
        audit_router,
        webhooks_router,
        notifications_router,
        blocks_router,
        safety_router,
        activities_router,
        calendars_router,
        hsds_router,
    ):
        v1.include_router(router)
    app.include_router(v1)
    app.include_router(ops_router)
    document_webhooks(app)
    install_openapi(app)
    install_docs(app)
    return app


app = create_app()
