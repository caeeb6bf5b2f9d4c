"""Who is calling: anonymous, a member (with the organisations they coordinate), or an API key."""

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field

from app.members.models import Member
from app.organizations.models import ApiKey, Scope

KEY_PREFIX = "ma_"


def new_api_key() -> tuple[str, str, str]:
    """(secret, display prefix, hash): 256 bits of randomness, so a fast hash is enough."""
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    return secret, secret[:11], hash_api_key(secret)


def hash_api_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Caller:
    member: Member | None = None
    key: ApiKey | None = None
    coordinator_of: frozenset[uuid.UUID] = field(default_factory=frozenset)

    @property
    def is_anonymous(self) -> bool:
        return self.member is None and self.key is None

    @property
    def member_id(self) -> uuid.UUID | None:
        return self.member.id if self.member is not None else None

    def has_scope(self, scope: Scope) -> bool:
        return self.key is None or scope in self.key.scopes

    def acts_for(self, organization_id: uuid.UUID | None) -> bool:
        """Coordinator of the organisation, or one of its keys."""
        if organization_id is None:
            return False
        if self.key is not None:
            return self.key.organization_id == organization_id
        return organization_id in self.coordinator_of

    def organizations(self) -> frozenset[uuid.UUID]:
        """The organisations whose records this caller may handle."""
        return frozenset({self.key.organization_id}) if self.key is not None else self.coordinator_of

    @property
    def identity(self) -> str:
        if self.key is not None:
            return f"key:{self.key.id}"
        if self.member is not None:
            return f"member:{self.member.id}"
        return "anonymous"
