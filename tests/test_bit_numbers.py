"""Stored bit numbers are permanent: the layout is pinned here, and a new word moves no mask."""

from enum import StrEnum

import pytest

from app import bit_numbers
from app.matching.masks import language_mask
from app.spatial import category_index_sql
from app.vocab import (
    BITS,
    ISO_639_1,
    MASK_BITS,
    RETIRED,
    Accessibility,
    Capability,
    Category,
    Mode,
    check_bits,
    mask,
)

# Literal numbers, on purpose: computed from the enums or the code lists, they would move with
# them and this test would never notice a stored mask changing meaning.
CATEGORY_LAYOUT = {
    "groceries": 0,
    "meals": 1,
    "transport": 2,
    "errands": 3,
    "household": 4,
    "childcare": 5,
    "pet_care": 6,
    "companionship": 7,
    "emotional_support": 8,
    "skills": 9,
    "community_project": 10,
    "other": 11,
}
MODE_LAYOUT = {"in_person": 0, "remote": 1}
CAPABILITY_LAYOUT = {
    "car": 0,
    "wheelchair_accessible_vehicle": 1,
    "heavy_lifting": 2,
    "background_checked": 3,
    "pet_friendly": 4,
    "first_aid": 5,
}
ACCESSIBILITY_LAYOUT = {
    "step_free": 0,
    "seating": 1,
    "quiet_space": 2,
    "sign_language": 3,
    "captions": 4,
    "childcare": 5,
    "assistance_animals_welcome": 6,
    "accessible_toilet": 7,
    "hearing_loop": 8,
}
# Bit -> the codes that share it.
LANGUAGE_LAYOUT = {
    0: {"aa", "ia", "pi"},
    1: {"ab", "id", "pl"},
    2: {"ae", "ie", "ps"},
    3: {"af", "ig", "pt"},
    4: {"ak", "ii", "qu"},
    5: {"am", "ik", "rm"},
    6: {"an", "io", "rn"},
    7: {"ar", "is", "ro"},
    8: {"as", "it", "ru"},
    9: {"av", "iu", "rw"},
    10: {"ay", "ja", "sa"},
    11: {"az", "jv", "sc"},
    12: {"ba", "ka", "sd"},
    13: {"be", "kg", "se"},
    14: {"bg", "ki", "sg"},
    15: {"bi", "kj", "si"},
    16: {"bm", "kk", "sk"},
    17: {"bn", "kl", "sl"},
    18: {"bo", "km", "sm"},
    19: {"br", "kn", "sn"},
    20: {"bs", "ko", "so"},
    21: {"ca", "kr", "sq"},
    22: {"ce", "ks", "sr"},
    23: {"ch", "ku", "ss"},
    24: {"co", "kv", "st"},
    25: {"cr", "kw", "su"},
    26: {"cs", "ky", "sv"},
    27: {"cu", "la", "sw"},
    28: {"cv", "lb", "ta"},
    29: {"cy", "lg", "te"},
    30: {"da", "li", "tg"},
    31: {"de", "ln", "th"},
    32: {"dv", "lo", "ti"},
    33: {"dz", "lt", "tk"},
    34: {"ee", "lu", "tl"},
    35: {"el", "lv", "tn"},
    36: {"en", "mg", "to"},
    37: {"eo", "mh", "tr"},
    38: {"es", "mi", "ts"},
    39: {"et", "mk", "tt"},
    40: {"eu", "ml", "tw"},
    41: {"fa", "mn", "ty"},
    42: {"ff", "mr", "ug"},
    43: {"fi", "ms", "uk"},
    44: {"fj", "mt", "ur"},
    45: {"fo", "my", "uz"},
    46: {"fr", "na", "ve"},
    47: {"fy", "nb", "vi"},
    48: {"ga", "nd", "vo"},
    49: {"gd", "ne", "wa"},
    50: {"gl", "ng", "wo"},
    51: {"gn", "nl", "xh"},
    52: {"gu", "nn", "yi"},
    53: {"gv", "no", "yo"},
    54: {"ha", "nr", "za"},
    55: {"he", "nv", "zh"},
    56: {"hi", "ny", "zu"},
    57: {"ho", "oc"},
    58: {"hr", "oj"},
    59: {"ht", "om"},
    60: {"hu", "or"},
    61: {"hy", "os"},
    62: {"hz", "pa"},
}


def _keeps_its_layout(vocabulary: type[StrEnum], layout: dict[str, int]) -> None:
    numbers = {w.value: mask([w], vocabulary).bit_length() - 1 for w in vocabulary} | dict(
        RETIRED[vocabulary]
    )
    assert {w: numbers.get(w) for w in layout} == layout  # a word leaves only to RETIRED, number and all
    newcomers = numbers.keys() - layout.keys()
    assert not {numbers[w] for w in newcomers} & set(layout.values())  # new words take new numbers


def test_every_stored_bit_keeps_its_number() -> None:
    _keeps_its_layout(Category, CATEGORY_LAYOUT)
    _keeps_its_layout(Mode, MODE_LAYOUT)
    _keeps_its_layout(Capability, CAPABILITY_LAYOUT)
    _keeps_its_layout(Accessibility, ACCESSIBILITY_LAYOUT)
    pinned = {code: bit for bit, codes in LANGUAGE_LAYOUT.items() for code in codes}
    assert {code: language_mask([code]).bit_length() - 1 for code in pinned} == pinned


def test_masks_of_several_words_are_sums_of_pinned_bits() -> None:
    assert mask(["groceries", "other", "groceries"], Category) == 0b1000_0000_0001
    assert mask([Mode.in_person, Mode.remote], Mode) == 0b11
    assert mask(["car", "first_aid"], Capability) == 0b10_0001
    assert language_mask(["en", "fr", "pl"]) == 1 << 36 | 1 << 46 | 1 << 1
    with pytest.raises(ValueError):
        mask(["teleportation"], Capability)


def test_per_category_indexes_are_named_and_built_by_pinned_numbers() -> None:
    statements = category_index_sql()[:12]
    assert statements[11] == (
        "CREATE INDEX IF NOT EXISTS ix_offers_geog_category_11 ON offers USING gist "
        "((ST_SetSRID(ST_MakePoint(approx_lon, approx_lat), 4326)::geography)) "
        "WHERE status = 'active' AND (categories_mask & 2048) <> 0"
    )
    assert [s.split()[5] for s in statements] == [f"ix_offers_geog_category_{b}" for b in range(12)]


def _grown(vocabulary: type[StrEnum], word: str) -> type[StrEnum]:
    """The vocabulary with a new word first in it, where it shifts every other word's place."""
    return StrEnum(vocabulary.__name__, [(word, word), *((w.name, w.value) for w in vocabulary)])  # type: ignore[return-value]


@pytest.mark.parametrize("vocabulary", [Category, Mode, Capability, Accessibility])
def test_a_new_word_changes_no_stored_mask(
    vocabulary: type[StrEnum], monkeypatch: pytest.MonkeyPatch
) -> None:
    grown = _grown(vocabulary, "aaa_new")
    numbers = {**BITS[vocabulary], "aaa_new": max(BITS[vocabulary].values()) + 1}  # appended
    check_bits([w.value for w in grown], numbers, retired=RETIRED[vocabulary], width=MASK_BITS)
    monkeypatch.setitem(BITS, grown, numbers)
    words = [w.value for w in vocabulary]
    assert [mask([w], grown) for w in words] == [mask([w], vocabulary) for w in words]
    assert mask(words, grown) == mask(words, vocabulary)
    assert mask(["aaa_new"], grown) == 1 << numbers["aaa_new"]


def test_a_new_category_changes_no_existing_index() -> None:
    new = max(bit_numbers.CATEGORY.values()) + 1
    statements = category_index_sql({**bit_numbers.CATEGORY, "aaa_new": new})
    assert statements[:-1] == category_index_sql()
    assert statements[-1].startswith(f"CREATE INDEX IF NOT EXISTS ix_offers_geog_category_{new} ")


def test_a_new_language_changes_no_stored_mask(monkeypatch: pytest.MonkeyPatch) -> None:
    before = {code: language_mask([code]) for code in ISO_639_1}
    grown = {**bit_numbers.LANGUAGE, "a0": 57}  # sorts before every code
    check_bits([*ISO_639_1, "a0"], grown, retired={}, width=63, shared=True)
    monkeypatch.setattr("app.matching.masks.LANGUAGE", grown)
    assert {code: language_mask([code]) for code in ISO_639_1} == before


@pytest.mark.parametrize(
    ("numbers", "retired", "problem"),
    [
        ({"a": 0}, {}, "no bit number for \\['b'\\]"),
        ({"a": 0, "b": 1, "c": 2}, {}, "words not in the vocabulary \\['c'\\]"),
        ({"a": 0, "b": 0}, {}, "two words share a bit number"),
        ({"a": 0, "b": 2}, {"gone": 2}, "retired bit numbers given again to \\['b'\\]"),
        ({"a": 0, "b": 31}, {}, "outside \\[0, 31\\) for \\['b'\\]"),
    ],
)
def test_the_import_check_refuses_a_broken_table(
    numbers: dict[str, int], retired: dict[str, int], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        check_bits(["a", "b"], numbers, retired=retired, width=MASK_BITS)
