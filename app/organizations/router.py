"""HTTP routes for organisations, their members' roles and their API keys."""

import uuid

from fastapi import APIRouter, Response

from app.auth.deps import ANONYMOUS_WELCOME, AnyCaller, CurrentMember, MemberCaller, coordinator_only
from app.core.deps import SessionDep
from app.core.errors import Forbidden, NotFound, problems
from app.core.openapi import link, links
from app.core.pagination import Cursor, Limit, Page
from app.idempotency.replays import replayed_by, verbatim, while_organization_agent
from app.organizations import hooks, service
from app.organizations.models import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPublic,
    MembershipPublic,
    MembershipSet,
    Organization,
    OrganizationCreate,
    OrganizationPublic,
    OrganizationUpdate,
)

router = APIRouter(prefix="/organizations", tags=["organizations"])

NEW_ORG = {"organization_id": "$response.body#/id"}
SAME_ORG = {"organization_id": "$request.path.organization_id"}
ORGANIZATION_LINKS = {
    "GetOrganization": link("get_organization", NEW_ORG),
    "SetMembership": link("set_membership", NEW_ORG),
    "CreateApiKey": link("create_api_key", NEW_ORG),
    "ListApiKeys": link("list_api_keys", NEW_ORG),
    "OrganizationAudit": link("organization_audit", NEW_ORG),
    "OrganizationNeeds": link("list_needs", {"query.organization_id": "$response.body#/id"}),
    "RunMatching": link("run_matching", body={"organization_id": "$response.body#/id"}),
    # Its coordinator files needs for people and offers help through it.
    "FileNeed": link("create_need", body={"organization_id": "$response.body#/id"}),
    "OfferHelp": link("create_offer", body={"organization_id": "$response.body#/id"}),
}


def render(org: Organization) -> OrganizationPublic:
    area = None
    if org.area_lat is not None:
        area = {"lat": org.area_lat, "lon": org.area_lon, "radius_km": org.area_radius_km}
    return OrganizationPublic.model_validate({**org.model_dump(), "service_area": area})


@router.post(
    "",
    status_code=201,
    response_model=OrganizationPublic,
    responses={**problems(401, 403, 422), **links(201, **ORGANIZATION_LINKS)},
)
# The public view of an organisation.
@replayed_by(verbatim)
async def create_organization(
    data: OrganizationCreate, member: CurrentMember, session: SessionDep, response: Response
) -> OrganizationPublic:
    """Start an organisation; you become its coordinator."""
    organization = await service.create_organization(session, creator=member, data=data)
    response.headers["Location"] = f"/v1/organizations/{organization.id}"
    return render(organization)


@router.get(
    "", response_model=Page[OrganizationPublic], responses=problems(401, 422), openapi_extra=ANONYMOUS_WELCOME
)
async def list_organizations(
    session: SessionDep, _caller: AnyCaller, limit: Limit = 20, cursor: Cursor = None
) -> Page[OrganizationPublic]:
    orgs, next_cursor = await service.list_organizations(session, limit=limit, cursor=cursor)
    return Page[OrganizationPublic](items=[render(o) for o in orgs], next_cursor=next_cursor)


@router.get(
    "/{organization_id:uuid}",
    response_model=OrganizationPublic,
    responses=problems(401, 404, 422),
    openapi_extra=ANONYMOUS_WELCOME,
)
async def get_organization(
    organization_id: uuid.UUID, session: SessionDep, _caller: AnyCaller
) -> OrganizationPublic:
    return render(await service.get_organization(session, organization_id=organization_id))


@router.patch(
    "/{organization_id:uuid}",
    response_model=OrganizationPublic,
    responses=problems(401, 403, 404, 422),
)
async def update_organization(
    organization_id: uuid.UUID, data: OrganizationUpdate, caller: MemberCaller, session: SessionDep
) -> OrganizationPublic:
    """Change the organisation (its coordinators only): name, description, service area, and
    `require_verified_email`: when true, only volunteers who verified their address may claim
    its needs or be proposed for them, and candidate lists, opportunities, batch runs and
    alerts leave the others out (a refused claim says `email_unverified`)."""
    organization = await service.get_organization(session, organization_id=organization_id)
    if organization_id not in caller.coordinator_of:
        raise Forbidden("Only this organization's coordinators can change it.")
    return render(await service.update_organization(session, organization=organization, data=data))


@router.put(
    "/{organization_id:uuid}/members/{member_id:uuid}",
    response_model=MembershipPublic,
    responses={**problems(401, 403, 404, 409, 422), 201: {"model": MembershipPublic}},
)
async def set_membership(
    organization_id: uuid.UUID,
    member_id: uuid.UUID,
    data: MembershipSet,
    caller: MemberCaller,
    session: SessionDep,
    response: Response,
) -> MembershipPublic:
    """Make a member a volunteer or coordinator here, and mark them vetted (coordinators only)."""
    await service.get_organization(session, organization_id=organization_id)
    if organization_id not in caller.coordinator_of:
        raise Forbidden("Only this organization's coordinators can change its members.")
    if data.vetted and member_id == caller.member_id:
        raise Forbidden("Nobody can vet themselves; another coordinator must.")
    # A coordinator and a member either of whom blocked the other never meet again: the member
    # cannot be added (answered as a member that does not exist); an existing membership's role
    # may still change, so an organisation can always demote or vet its own people.
    assert caller.member_id is not None  # MemberCaller admits members only
    parted = not await hooks.may_meet()(session, one=caller.member_id, other=member_id)
    if parted and not await service.members_among(
        session, organization_id=organization_id, member_ids={member_id}
    ):
        raise NotFound("No such member.")
    membership, created = await service.set_membership(
        session, organization_id=organization_id, member_id=member_id, data=data
    )
    response.status_code = 201 if created else 200
    if created:
        response.headers["Location"] = f"/v1/organizations/{organization_id}/members/{member_id}"
    return MembershipPublic.model_validate(membership, from_attributes=True)


@router.post(
    "/{organization_id:uuid}/api-keys",
    status_code=201,
    response_model=ApiKeyCreated,
    responses={
        **problems(401, 403, 404, 422),
        **links(
            201,
            ListApiKeys=link("list_api_keys", SAME_ORG),
            RevokeApiKey=link("revoke_api_key", {**SAME_ORG, "key_id": "$response.body#/id"}),
        ),
    },
)
@replayed_by(while_organization_agent)
async def create_api_key(
    organization_id: uuid.UUID, data: ApiKeyCreate, caller: AnyCaller, session: SessionDep, response: Response
) -> ApiKeyCreated:
    """A key for a partner system. The `key` is shown in this response only; we keep a hash."""
    coordinator = coordinator_only(caller, organization_id)
    key, secret = await service.create_api_key(
        session, organization_id=organization_id, creator=coordinator, data=data
    )
    response.headers["Location"] = f"/v1/organizations/{organization_id}/api-keys/{key.id}"
    return ApiKeyCreated.model_validate({**key.model_dump(), "key": secret})


@router.get(
    "/{organization_id:uuid}/api-keys", response_model=list[ApiKeyPublic], responses=problems(401, 403, 404)
)
async def list_api_keys(
    organization_id: uuid.UUID, caller: AnyCaller, session: SessionDep
) -> list[ApiKeyPublic]:
    """This organisation's keys, revoked ones included; never a secret."""
    coordinator_only(caller, organization_id)
    keys = await service.list_api_keys(session, organization_id=organization_id)
    return [ApiKeyPublic.model_validate(k, from_attributes=True) for k in keys]


@router.delete(
    "/{organization_id:uuid}/api-keys/{key_id:uuid}", status_code=204, responses=problems(401, 403, 404)
)
async def revoke_api_key(
    organization_id: uuid.UUID, key_id: uuid.UUID, caller: AnyCaller, session: SessionDep
) -> Response:
    """Revoke a key; it stops working on the next request."""
    coordinator_only(caller, organization_id)
    await service.revoke_api_key(session, organization_id=organization_id, key_id=key_id)
    return Response(status_code=204)
