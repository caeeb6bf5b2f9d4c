"""The shared vocabulary of the contract: categories, modes, urgencies, requirements, languages."""

from collections.abc import Collection, Mapping, Sequence
from enum import StrEnum
from typing import Annotated, TypeVar

from pydantic import AfterValidator, Field

from app import bit_numbers

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


class Accessibility(StrEnum):
    """What an activity offers people who need it (the contract's list)."""

    step_free = "step_free"
    seating = "seating"
    quiet_space = "quiet_space"
    sign_language = "sign_language"
    captions = "captions"
    childcare = "childcare"
    assistance_animals_welcome = "assistance_animals_welcome"
    accessible_toilet = "accessible_toilet"
    hearing_loop = "hearing_loop"


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


# The category, mode and capability masks are 32-bit signed integer columns: a mask with bit 31
# set is past Postgres's integer range, and storing it would fail.
MASK_BITS = 31
LANGUAGE_BITS = 63  # languages_mask is a BigInteger: 63 bits below the sign

# Each vocabulary's permanent bit numbers (app.bit_numbers), and the numbers of retired words.
BITS: dict[type[StrEnum], Mapping[str, int]] = {
    Category: bit_numbers.CATEGORY,
    Mode: bit_numbers.MODE,
    Capability: bit_numbers.CAPABILITY,
    Accessibility: bit_numbers.ACCESSIBILITY,
}
RETIRED: dict[type[StrEnum], Mapping[str, int]] = {
    Category: bit_numbers.RETIRED_CATEGORY,
    Mode: bit_numbers.RETIRED_MODE,
    Capability: bit_numbers.RETIRED_CAPABILITY,
    Accessibility: bit_numbers.RETIRED_ACCESSIBILITY,
}


def check_bits(
    words: Collection[str],
    numbers: Mapping[str, int],
    *,
    retired: Mapping[str, int],
    width: int,
    shared: bool = False,
) -> None:
    """Raise ValueError unless every word, and no other, has a number in [0, width), no number
    is retired, and (unless `shared`) no two words have the same one."""
    problems = []
    if missing := sorted(set(words) - numbers.keys()):
        problems.append(f"no bit number for {missing}")
    if extra := sorted(numbers.keys() - set(words)):
        problems.append(f"bit numbers for words not in the vocabulary {extra} (retire them instead)")
    if outside := sorted(w for w, n in numbers.items() if not 0 <= n < width):
        problems.append(f"bit numbers outside [0, {width}) for {outside}")
    if reused := sorted(w for w, n in numbers.items() if n in set(retired.values())):
        problems.append(f"retired bit numbers given again to {reused}")
    if not shared and len(set(numbers.values())) != len(numbers):
        problems.append("two words share a bit number")
    if problems:
        raise ValueError("; ".join(problems))


for _vocabulary, _numbers in BITS.items():
    check_bits([w.value for w in _vocabulary], _numbers, retired=RETIRED[_vocabulary], width=MASK_BITS)
check_bits(ISO_639_1, bit_numbers.LANGUAGE, retired={}, width=LANGUAGE_BITS, shared=True)


def mask(values: Sequence[str], vocabulary: type[StrEnum]) -> int:
    """A bit per vocabulary word, at its permanent number, so SQL tests membership with one AND.

    Raises ValueError for a word not in the vocabulary."""
    numbers = BITS[vocabulary]
    return sum(1 << numbers[vocabulary(v).value] for v in set(values))


def unique(values: list[T]) -> list[T]:
    """The values in order, each once."""
    return list(dict.fromkeys(values))


Language = Annotated[str, Field(json_schema_extra={"enum": sorted(ISO_639_1)}), AfterValidator(_language)]
Languages = Annotated[list[Language], Field(max_length=20), AfterValidator(unique)]
Capabilities = Annotated[list[Capability], Field(max_length=len(Capability)), AfterValidator(unique)]
AccessibilityFeatures = Annotated[
    list[Accessibility], Field(max_length=len(Accessibility)), AfterValidator(unique)
]
