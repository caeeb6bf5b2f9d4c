"""Human-readable text: what every name, title and description must hold, declared once.

`HumanText()` marks a one-line field (a name, a title): after the surrounding whitespace is
dropped it must hold a visible character, and it may hold no control character (line breaks
included) and no bidirectional override, embedding or isolate, which make text display other
than it reads (U+202E turns "exe.pdf" into "fdp.exe"). `HumanText(multiline=True)` marks prose
(a description, a note, an address): newlines and tabs stay, other controls are refused, and it
too must hold something visible. Unicode general categories are from the Unicode Character
Database (UAX #44); the bidirectional controls from UAX #9, section 2.
"""

import unicodedata
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

# Categories that draw nothing: controls, format characters (zero-width space, joiners), unassigned
# and private-use code points, surrogates, separators (spaces, line and paragraph), and combining
# marks, which only decorate a character before them.
_BLANK_CATEGORIES = frozenset({"Cc", "Cf", "Cn", "Co", "Cs", "Zs", "Zl", "Zp", "Mn", "Me"})
# Letters and symbols that fonts draw as blank: Hangul fillers, the blank Braille pattern.
_BLANK_CHARACTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# Embeddings and overrides (LRE, RLE, PDF, LRO, RLO) and isolates (LRI, RLI, FSI, PDI). The
# marks LRM, RLM and ALM stay allowed: right-to-left names need them and they reorder nothing.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_PROSE_CONTROLS_ALLOWED = frozenset("\t\n\r")


def visible(char: str) -> bool:
    return unicodedata.category(char) not in _BLANK_CATEGORIES and char not in _BLANK_CHARACTERS


def _refuse(kind: str, message: str, char: str) -> PydanticCustomError:
    # The code point, never the character itself: echoing an override would garble the message.
    return PydanticCustomError(kind, message, {"code_point": f"U+{ord(char):04X}"})


def _check(value: str, *, multiline: bool) -> str:
    value = value.strip()
    for char in value:
        category = unicodedata.category(char)
        if category == "Cs":
            raise _refuse("rule", "text must not contain lone surrogates ({code_point})", char)
        if multiline and char in _PROSE_CONTROLS_ALLOWED:
            continue
        if category == "Cc" or (not multiline and category in ("Zl", "Zp")):
            what = "control characters" if multiline else "control characters or line breaks"
            raise _refuse("rule", f"text must not contain {what} (found {{code_point}})", char)
        if not multiline and char in BIDI_CONTROLS:
            raise _refuse(
                "rule",
                "names must not contain bidirectional override or isolate characters (found "
                "{code_point}): they make text display differently from what it says",
                char,
            )
    if not any(visible(c) for c in value):
        raise PydanticCustomError(
            "rule", "must contain a visible character (not only spaces or invisible characters)"
        )
    return value


@dataclass(frozen=True)
class HumanText:
    """After `StringConstraints(...)` in an `Annotated[str, ...]`: the length limits count the
    text as sent (as the schema does); then it is stripped and checked as the module says."""

    multiline: bool = False

    def validate(self, value: str) -> str:
        return _check(value, multiline=self.multiline)

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.validate, handler(source))
