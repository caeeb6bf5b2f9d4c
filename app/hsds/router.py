"""HTTP routes of the HSDS 3.0 feed: public, page-numbered as HSDS's API describes."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.auth.callers import Caller
from app.auth.deps import ANONYMOUS_WELCOME, scoped
from app.core.deps import SessionDep
from app.core.errors import problems
from app.hsds import service
from app.hsds.models import HsdsOrganization, HsdsPage, HsdsService

router = APIRouter(prefix="/hsds", tags=["hsds"])

Reader = Annotated[Caller, Depends(scoped(anonymous=True))]
PageNumber = Annotated[int, Query(ge=1, le=100_000, description="Page number, from 1.")]
PerPage = Annotated[int, Query(ge=1, le=100, description="Items per page, 1..100.")]


@router.get(
    "/organizations",
    response_model=HsdsPage[HsdsOrganization],
    response_model_exclude_none=True,
    responses=problems(401, 422),
    openapi_extra=ANONYMOUS_WELCOME,
)
async def hsds_organizations(
    session: SessionDep, caller: Reader, page: PageNumber = 1, per_page: PerPage = 20
) -> HsdsPage[HsdsOrganization]:
    """Every organisation, oldest first, as HSDS 3.0 `organization` objects."""
    return await service.organizations_page(session, page=page, per_page=per_page)


@router.get(
    "/services",
    response_model=HsdsPage[HsdsService],
    response_model_exclude_none=True,
    responses=problems(401, 422),
    openapi_extra=ANONYMOUS_WELCOME,
)
async def hsds_services(
    session: SessionDep, caller: Reader, page: PageNumber = 1, per_page: PerPage = 20
) -> HsdsPage[HsdsService]:
    """Organisations' open activities that have not ended, soonest first, as HSDS 3.0 `service`
    objects: schedules from the recurrence, the coarse point, languages, accessibility. Activities
    members host for themselves are never listed."""
    return await service.services_page(session, page=page, per_page=per_page)
