"""The shared vocabulary of the contract: categories, modes, urgencies, requirements, languages."""

from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, TypeVar

from pydantic import AfterValidator, Field

T = TypeVar("T")


class Category(StrEnum):
    groceries = "groceries"
    meals = "meals"
    transport = "transport"
    errands = "errands"
    household = "household"
    childcare = "childcare"
    pet_care = "pet_care"
    companionship = "companionship"
    emotional_support = "emotional_support"
    skills = "skills"
    community_project = "community_project"
    other = "other"


class Mode(StrEnum):
    in_person = "in_person"
    remote = "remote"


class Urgency(StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


class Capability(StrEnum):
    """What a need may require and an offer may provide."""

    car = "car"
    wheelchair_accessible_vehicle = "wheelchair_accessible_vehicle"
    heavy_lifting = "heavy_lifting"
    background_checked = "background_checked"
    pet_friendly = "pet_friendly"
    first_aid = "first_aid"


# ISO 639-1 two-letter codes.
ISO_639_1 = frozenset(
    {
        "aa",
        "ab",
        "ae",
        "af",
        "ak",
        "am",
        "an",
        "ar",
        "as",
        "av",
        "ay",
        "az",
        "ba",
        "be",
        "bg",
        "bi",
        "bm",
        "bn",
        "bo",
        "br",
        "bs",
        "ca",
        "ce",
        "ch",
        "co",
        "cr",
        "cs",
        "cu",
        "cv",
        "cy",
        "da",
        "de",
        "dv",
        "dz",
        "ee",
        "el",
        "en",
        "eo",
        "es",
        "et",
        "eu",
        "fa",
        "ff",
        "fi",
        "fj",
        "fo",
        "fr",
        "fy",
        "ga",
        "gd",
        "gl",
        "gn",
        "gu",
        "gv",
        "ha",
        "he",
        "hi",
        "ho",
        "hr",
        "ht",
        "hu",
        "hy",
        "hz",
        "ia",
        "id",
        "ie",
        "ig",
        "ii",
        "ik",
        "io",
        "is",
        "it",
        "iu",
        "ja",
        "jv",
        "ka",
        "kg",
        "ki",
        "kj",
        "kk",
        "kl",
        "km",
        "kn",
        "ko",
        "kr",
        "ks",
        "ku",
        "kv",
        "kw",
        "ky",
        "la",
        "lb",
        "lg",
        "li",
        "ln",
        "lo",
        "lt",
        "lu",
        "lv",
        "mg",
        "mh",
        "mi",
        "mk",
        "ml",
        "mn",
        "mr",
        "ms",
        "mt",
        "my",
        "na",
        "nb",
        "nd",
        "ne",
        "ng",
        "nl",
        "nn",
        "no",
        "nr",
        "nv",
        "ny",
        "oc",
        "oj",
        "om",
        "or",
        "os",
        "pa",
        "pi",
        "pl",
        "ps",
        "pt",
        "qu",
        "rm",
        "rn",
        "ro",
        "ru",
        "rw",
        "sa",
        "sc",
        "sd",
        "se",
        "sg",
        "si",
        "sk",
        "sl",
        "sm",
        "sn",
        "so",
        "sq",
        "sr",
        "ss",
        "st",
        "su",
        "sv",
        "sw",
        "ta",
        "te",
        "tg",
        "th",
        "ti",
        "tk",
        "tl",
        "tn",
        "to",
        "tr",
        "ts",
        "tt",
        "tw",
        "ty",
        "ug",
        "uk",
        "ur",
        "uz",
        "ve",
        "vi",
        "vo",
        "wa",
        "wo",
        "xh",
        "yi",
        "yo",
        "za",
        "zh",
        "zu",
    }
)


def _language(code: str) -> str:
    # One spelling per language, the one the schema lists: anything else is a 422.
    if code not in ISO_639_1:
        raise ValueError(f"{code!r} is not an ISO 639-1 language code")
    return code


def mask(values: Sequence[str], vocabulary: type[StrEnum]) -> int:
    """A bit per vocabulary word, so SQL can test membership with one AND."""
    order = list(vocabulary)
    return sum(1 << order.index(vocabulary(v)) for v in set(values))


def unique(values: list[T]) -> list[T]:
    """The values in order, each once."""
    return list(dict.fromkeys(values))


Language = Annotated[str, Field(json_schema_extra={"enum": sorted(ISO_639_1)}), AfterValidator(_language)]
Languages = Annotated[list[Language], Field(max_length=20), AfterValidator(unique)]
Capabilities = Annotated[list[Capability], Field(max_length=len(Capability)), AfterValidator(unique)]
