"""The catalogue of crisis resources: the shipped default or a deployment's own file, validated at start-up.

Schema (JSON): `{"regions": [{"region": "GB" | ... | "WORLD", "languages": ["en"]?,
"resources": [{"name", "phone"?, "url"?, "source", "kinds"?}]}]}`. `source` is the public
page that lists the number (a wrong number in a crisis is harm); `kinds` limits an entry to
some kinds of crisis (a domestic abuse line for abuse and danger); `languages` lets a region
be chosen for a need without a location (see app/safety/regions.py).
"""

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from app.safety.kinds import Kind
from app.safety.models import CrisisResource

DEFAULT_FILE = Path(__file__).with_name("resources.json")
WORLD = "WORLD"

HttpsUrl = Annotated[str, StringConstraints(pattern=r"^https://[^\s/]+\.[^\s/]+(/\S*)?$", max_length=500)]
PhoneNumber = Annotated[str, StringConstraints(pattern=r"^\+?[0-9][0-9 -]{1,24}$")]


class CatalogueError(ValueError):
    """The catalogue file is missing, not JSON, or breaks the schema."""


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    phone: PhoneNumber | None = None
    url: HttpsUrl | None = None
    source: HttpsUrl
    kinds: frozenset[Kind] = frozenset()  # empty: every kind

    @model_validator(mode="after")
    def _reachable(self) -> Self:
        if self.phone is None and self.url is None:
            raise ValueError("an entry needs a phone or a url")
        return self


class Region(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    region: Annotated[str, StringConstraints(pattern=r"^([A-Z]{2}|WORLD)$")]
    languages: frozenset[Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]] = frozenset()
    resources: tuple[Entry, ...] = Field(min_length=1)


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)  # "checked", "note": for the people who keep it

    regions: tuple[Region, ...]

    @model_validator(mode="after")
    def _one_per_region_and_a_world_entry(self) -> Self:
        codes = [r.region for r in self.regions]
        if len(codes) != len(set(codes)):
            raise ValueError("each region appears once")
        if WORLD not in codes:
            raise ValueError("a WORLD region is required: it is always shown")
        return self

    def has(self, region: str) -> bool:
        return any(r.region == region for r in self.regions)

    def speaking(self, languages: Iterable[str]) -> list[str]:
        """Regions the catalogue ties to any of these languages."""
        wanted = set(languages)
        return [r.region for r in self.regions if r.languages & wanted]

    def resources(self, regions: Iterable[str], kinds: Iterable[Kind]) -> list[CrisisResource]:
        """Entries of these regions (in that order) for these kinds, then the worldwide ones."""
        order = [*dict.fromkeys(r for r in regions if r != WORLD), WORLD]
        by_code = {r.region: r for r in self.regions}
        found = set(kinds)
        return [
            CrisisResource(name=e.name, phone=e.phone, url=e.url, region=code)
            for code in order
            if code in by_code
            for e in by_code[code].resources
            if not e.kinds or e.kinds & found
        ]


def load_catalogue(path: Path | None = None) -> Catalogue:
    """The catalogue at `path` (the shipped default when None). Raises CatalogueError naming the file."""
    path = path or DEFAULT_FILE
    try:
        return Catalogue.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as exc:
        raise CatalogueError(f"CRISIS_RESOURCES_FILE {path}: cannot be read as JSON: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors()
        )
        raise CatalogueError(f"CRISIS_RESOURCES_FILE {path}: {problems}") from None
