"""Crisis resources as an author sees them in a response: what to call or open, and where it serves."""

from pydantic import BaseModel, ConfigDict, Field


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
