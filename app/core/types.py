"""Value types more than one domain's bodies and views use: a point on the globe, a phone number."""

from typing import Annotated

from pydantic import StrictFloat, StringConstraints
from sqlmodel import Field, SQLModel

from app.core.schema import STRIPPED, request_config

Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9][0-9 ()\-]{5,24}$"), STRIPPED]


# WGS 84 degrees. (No docstring: it would become the schema's description in /openapi.json.)
class Point(SQLModel):
    model_config = request_config()

    lat: StrictFloat = Field(ge=-90, le=90, schema_extra={"examples": [51.5074]})
    lon: StrictFloat = Field(ge=-180, le=180, schema_extra={"examples": [-0.1278]})
