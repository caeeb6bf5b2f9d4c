"""Who is calling: anonymous, a member (with the organisations they coordinate), or an API key."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from app.members.models import Member
from app.members.suspension import is_suspended
from app.organizations.models import ApiKey, Scope


def usable(member: Member | None, now: datetime) -> bool:
    """May this member's credentials act now: their tokens and the API keys they created?

    Asked on every request, from the row just read: a suspension refuses the very next request,
    and one that lapses at `suspended_until` lets the next one through (nothing is cached)."""
    return member is not None and not is_suspended(member, now)


@dataclass(frozen=True)
class Caller:
    member: Member | None = None
    key: ApiKey | None = None
    coordinator_of: frozenset[uuid.UUID] = field(default_factory=frozenset)
    # The member's session whose access token made this request (logout ends it).
    session_id: uuid.UUID | None = None
    # Plain copies taken when the caller is resolved: ORM objects expire when a transaction
    # rolls back, and who is calling must not change (or need the database) mid-request.
    member_id: uuid.UUID | None = field(init=False)
    key_id: uuid.UUID | None = field(init=False)
    key_organization_id: uuid.UUID | None = field(init=False)
    key_scopes: frozenset[str] = field(init=False)
    name: str = field(init=False)

    def __post_init__(self) -> None:
        facts = {
            "member_id": self.member.id if self.member else None,
            "key_id": self.key.id if self.key else None,
            "key_organization_id": self.key.organization_id if self.key else None,
            "key_scopes": frozenset(self.key.scopes) if self.key else frozenset(),
            "name": self.key.name if self.key else (self.member.display_name if self.member else ""),
        }
        for attribute, value in facts.items():
            object.__setattr__(self, attribute, value)

    @property
    def is_anonymous(self) -> bool:
        return self.member_id is None and self.key_id is None

    def has_scope(self, scope: Scope) -> bool:
        return self.key_id is None or scope in self.key_scopes

    def acts_for(self, organization_id: uuid.UUID | None) -> bool:
        """Coordinator of the organisation, or one of its keys."""
        if organization_id is None:
            return False
        if self.key_id is not None:
            return self.key_organization_id == organization_id
        return organization_id in self.coordinator_of

    def organizations(self) -> frozenset[uuid.UUID]:
        """The organisations whose records this caller may handle."""
        if self.key_organization_id is not None:
            return frozenset({self.key_organization_id})
        return self.coordinator_of

    @property
    def identity(self) -> str:
        if self.key_id is not None:
            return f"key:{self.key_id}"
        if self.member_id is not None:
            return f"member:{self.member_id}"
        return "anonymous"
