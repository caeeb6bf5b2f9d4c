"""Organisations, their members' roles, and their partner API keys."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

import sqlalchemy as sa
from pydantic import StrictBool, StrictFloat, StringConstraints
from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

import app.core.metadata  # noqa: F401  (naming convention first)
from app.core.schema import PROSE, TEXT, PatchBody, RequestBody, request_config
from app.core.timeutil import UTCDateTime, utcnow


class Role(StrEnum):
    volunteer = "volunteer"
    coordinator = "coordinator"


class Scope(StrEnum):
    needs_read = "needs:read"
    needs_write = "needs:write"
    offers_read = "offers:read"
    matches_read = "matches:read"
    matches_write = "matches:write"
    matching_run = "matching:run"
    webhooks_manage = "webhooks:manage"
    activities_write = "activities:write"


class Organization(SQLModel, table=True):
    __tablename__ = "organizations"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=200)
    description: str | None = Field(default=None, sa_type=Text)
    area_lat: float | None = None
    area_lon: float | None = None
    area_radius_km: float | None = None
    # Its needs are claimed by, and proposed to, only volunteers who verified their address (the
    # `email_unverified` rule of app.matching.rules). Its coordinators set it.
    require_verified_email: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Membership(SQLModel, table=True):
    """A member's role in an organisation; `vetted` is set by its coordinators."""

    __tablename__ = "organization_members"

    organization_id: uuid.UUID = Field(foreign_key="organizations.id", primary_key=True)
    member_id: uuid.UUID = Field(foreign_key="members.id", primary_key=True, index=True)
    role: str = Field(max_length=16)
    vetted: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class ApiKey(SQLModel, table=True):
    """A partner credential. Only a hash of the secret is stored; the secret is shown once."""

    __tablename__ = "api_keys"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="organizations.id", index=True)
    name: str = Field(max_length=100)
    scopes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    prefix: str = Field(max_length=16)
    key_hash: str = Field(max_length=64, unique=True)
    created_by: uuid.UUID = Field(foreign_key="members.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ServiceArea(SQLModel):
    lat: StrictFloat = Field(ge=-90, le=90)
    lon: StrictFloat = Field(ge=-180, le=180)
    radius_km: StrictFloat = Field(gt=0, le=500)


Name = Annotated[str, StringConstraints(min_length=1, max_length=200), TEXT]


class OrganizationCreate(RequestBody):
    model_config = request_config(
        {
            "name": "Riverside Food Bank",
            "description": "Weekly parcels and deliveries.",
            "service_area": {"lat": 51.5, "lon": -0.12, "radius_km": 5},
        }
    )

    name: Name
    description: Annotated[str, StringConstraints(max_length=4000), PROSE] | None = None
    service_area: ServiceArea | None = None


class OrganizationUpdate(PatchBody):
    model_config = request_config({"require_verified_email": True})
    clearable = frozenset({"description", "service_area"})

    name: Name | None = None
    description: Annotated[str, StringConstraints(max_length=4000), PROSE] | None = None
    service_area: ServiceArea | None = None
    require_verified_email: StrictBool | None = Field(
        default=None,
        description="Only volunteers who verified their address may claim this organisation's "
        "needs or be proposed for them.",
    )


class OrganizationPublic(SQLModel):
    id: uuid.UUID
    name: str
    description: str | None
    service_area: ServiceArea | None
    require_verified_email: bool = Field(
        description="Only volunteers who verified their address may claim its needs or be proposed for them."
    )
    created_at: datetime
    updated_at: datetime


class MembershipSet(RequestBody):
    model_config = request_config({"role": "volunteer", "vetted": True})

    role: Role
    vetted: StrictBool | None = None


class MembershipPublic(SQLModel):
    organization_id: uuid.UUID
    member_id: uuid.UUID
    role: Role
    vetted: bool
    created_at: datetime
    updated_at: datetime


class ApiKeyCreate(RequestBody):
    model_config = request_config({"name": "Intake line", "scopes": ["needs:read", "needs:write"]})

    name: Annotated[str, StringConstraints(min_length=1, max_length=100), TEXT]
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=len(Scope))]


class ApiKeyPublic(SQLModel):
    """A key as listed: never its secret. `created_by`: the coordinator who made it; the key works
    only while they coordinate the organisation (docs/ownership.md), so the others can tell
    which keys stop when someone steps down, and make new ones first."""

    id: uuid.UUID
    name: str
    scopes: list[Scope]
    prefix: str
    created_by: uuid.UUID
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(SQLModel):
    id: uuid.UUID
    name: str
    scopes: list[Scope]
    prefix: str
    key: str = Field(description="The secret. Shown in this response only; store it now.")
    created_at: datetime
