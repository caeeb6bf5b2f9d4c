"""Safety's shapes: crisis resources as an author sees them, and member blocks."""

import uuid
from datetime import datetime

import sqlmodel
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlmodel import SQLModel

import app.core.metadata  # noqa: F401  (naming convention first)
from app.core.timeutil import UTCDateTime, utcnow


class CrisisResource(BaseModel):
    """A helpline or directory from the deployment's catalogue (never stored with the need)."""

    model_config = ConfigDict(frozen=True)

    name: str
    phone: str | None = Field(default=None, description="As dialled in `region`.")
    url: str | None = None
    region: str = Field(description="ISO 3166-1 alpha-2 country code, or `WORLD` for a worldwide directory.")


RESOURCES_DESCRIPTION = (
    "Helplines shown only to the author of this write, and only when its title or description reads "
    "as a crisis (suicide, self-harm, abuse, immediate danger); otherwise empty. Never stored, never "
    "shown to anyone else, never sent in webhooks; the write itself is never blocked. This service is "
    "not medical care or a crisis service: in danger, call the local emergency number."
)


class MemberBlock(SQLModel, table=True):
    """`blocker_id` blocked `blocked_id`: from then on the two never meet (app.safety.blocks)."""

    __tablename__ = "member_blocks"
    __table_args__ = (
        # One row per ordered pair: a second PUT finds it and changes nothing.
        UniqueConstraint("blocker_id", "blocked_id", name="uq_member_blocks_blocker_id_blocked_id"),
        CheckConstraint("blocker_id <> blocked_id", name="not_self"),
        # The blocker's list, newest first; the unique index serves "did A block B?".
        Index("ix_member_blocks_blocker_id_created_at_id", "blocker_id", "created_at", "id"),
    )

    id: uuid.UUID = sqlmodel.Field(default_factory=uuid.uuid4, primary_key=True)
    blocker_id: uuid.UUID = sqlmodel.Field(foreign_key="members.id", ondelete="CASCADE")
    # Indexed for the other direction: "who blocked B?".
    blocked_id: uuid.UUID = sqlmodel.Field(foreign_key="members.id", ondelete="CASCADE", index=True)
    created_at: datetime = sqlmodel.Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class BlockView(SQLModel):
    """A member the caller blocked, as the caller's own list shows them."""

    member_id: uuid.UUID
    display_name: str
    created_at: datetime = Field(description="When the block was made.")
