"""Crisis language detector: curated multilingual phrases, a negation window and false friends.

Pure and explainable: `detect(text)` answers which phrase rules matched, each naming its rule,
and nothing else. No score is computed, kept or returned; callers use the kinds only to pick
helplines for the author's own response. The method and its measured figures are in
docs/safety.md; the labelled sets are in tests/safety/.

Phrase syntax (see app/safety/phrases.py): space-separated tokens, each one of
- `word`: that word; `word*`: any word starting with it; `a|b*|c`: any of them;
- `~N`: up to N other words in between, none of them a negation or a clause boundary;
- `$`: the clause ends here ("cutting again $" but not "cutting again the hedge").
A phrase starting with `!` carries its own negation ("no quiero vivir") and is never negated.
Words are written as people spell them; accents, umlauts (ä -> a or ae) and case are folded.
"""

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from app.safety.kinds import Kind
from app.safety.phrases import FALSE_FRIENDS, PHRASES


def _words(*groups: str) -> frozenset[str]:
    return frozenset(word for group in groups for word in group.split())


# Words that negate what follows them within the window ("I am not suicidal", "no soy suicida",
# "je ne suis pas suicidaire", "ich bin nicht suizidgefährdet"). English "n't" is expanded first.
NEGATIONS = _words(
    "not never no dont cant wont didnt doesnt isnt arent wasnt wouldnt aint",
    "nunca jamas ni tampoco",
    "ne n pas jamais aucun",
    "nicht nie niemals kein keine keinen keinem",
)
# A negation reaches at most this many words forward, and never past a clause boundary: in
# "I'm not hungry, I want to die" or "not hungry and I want to die" the "not" negates nothing.
NEGATION_WINDOW = 3
BOUNDARY = "|"
# A comma ends a negation's reach but not a phrase's gap: German sets one before every
# infinitive clause ("er hat gedroht, mich umzubringen").
COMMA = ","
# Clause boundaries besides punctuation: a negation before them does not reach past them.
_CONJUNCTIONS = _words("but and so because", "pero y porque", "mais et car donc", "aber und denn weil")

_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue"})
_WORD = re.compile('[^\\W_]+|[.,;:!?¿¡()\\[\\]"«»\u2014\u2013]')
_NT = re.compile("n['\u2019]t\\b")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def tokens(text: str) -> list[str]:
    """Words of `text`, case- and accent-folded; commas as `,` and other clause boundaries as `|`."""
    text = _NT.sub(" not", unicodedata.normalize("NFKC", text).casefold())
    out = []
    for token in _WORD.findall(_fold(text)):
        word = token if token[0].isalnum() or token == COMMA else BOUNDARY
        out.append(BOUNDARY if word in _CONJUNCTIONS else word)
    return out


@dataclass(frozen=True)
class _Word:
    exact: frozenset[str]
    prefixes: tuple[str, ...]

    def __call__(self, token: str) -> bool:
        return token in self.exact or token.startswith(self.prefixes)


@dataclass(frozen=True)
class _Gap:
    most: int


@dataclass(frozen=True)
class _End:
    """Zero-width: the end of the text or of a clause."""


def _spellings(word: str) -> set[str]:
    """`möchte` is typed `möchte`, `mochte` or `moechte`; all fold to one of the last two."""
    return {_fold(word), _fold(word.casefold().translate(_UMLAUTS))}


def _element(text: str) -> _Word | _Gap | _End:
    if text == "$":
        return _End()
    if text.startswith("~"):
        return _Gap(int(text[1:]))
    exact: set[str] = set()
    prefixes: set[str] = set()
    for option in text.split("|"):
        if option.endswith("*"):
            prefixes |= _spellings(option[:-1])
        else:
            exact |= _spellings(option)
    return _Word(frozenset(exact), tuple(sorted(prefixes)))


@dataclass(frozen=True)
class Rule:
    """One curated phrase: `id` is `<language>.<kind>.<n>`, stable while the list only grows."""

    id: str
    kind: Kind
    phrase: str
    negatable: bool
    elements: tuple[_Word | _Gap | _End, ...]

    @classmethod
    def parse(cls, id: str, kind: Kind, phrase: str) -> "Rule":
        negatable = not phrase.startswith("!")
        elements = tuple(_element(part) for part in phrase.lstrip("!").split())
        if not elements or not isinstance(elements[0], _Word) or isinstance(elements[-1], _Gap):
            raise ValueError(f"phrase {phrase!r} must start and end with a word")
        return cls(id=id, kind=kind, phrase=phrase, negatable=negatable, elements=elements)

    def ends_at(self, words: list[str], start: int) -> int | None:
        """Where a match starting at `start` ends (exclusive), or None."""
        return _match(self.elements, words, start)


def _match(elements: tuple[_Word | _Gap | _End, ...], words: list[str], at: int) -> int | None:
    if not elements:
        return at
    head, rest = elements[0], elements[1:]
    if isinstance(head, _End):
        return _match(rest, words, at) if at == len(words) or words[at] in (BOUNDARY, COMMA) else None
    if isinstance(head, _Gap):
        for skip in range(head.most + 1):
            end = _match(rest, words, at + skip)
            if end is not None:
                return end
            if at + skip >= len(words) or words[at + skip] == BOUNDARY or words[at + skip] in NEGATIONS:
                return None
        return None
    if at < len(words) and head(words[at]):
        return _match(rest, words, at + 1)
    return None


@dataclass(frozen=True)
class Match:
    """A rule that matched: which, and the words it matched (folded), for explaining it."""

    rule: str
    kind: Kind
    phrase: str
    words: str


def negated(words: list[str], start: int) -> bool:
    """A negation word within the window before `start`, in the same clause."""
    for word in reversed(words[max(0, start - NEGATION_WINDOW) : start]):
        if word in (BOUNDARY, COMMA):
            return False
        if word in NEGATIONS:
            return True
    return False


class Detector:
    """Rules indexed by the words they can start with, so a text is read once."""

    def __init__(self, rules: tuple[Rule, ...], false_friends: tuple[Rule, ...]) -> None:
        self.rules = rules
        self.false_friends = false_friends
        self._friend_ids = frozenset(rule.id for rule in false_friends)
        self._by_word: dict[str, list[Rule]] = {}
        self._by_prefix: list[tuple[str, Rule]] = []
        for rule in (*false_friends, *rules):
            first = rule.elements[0]
            assert isinstance(first, _Word)  # Rule.parse makes sure
            for word in first.exact:
                self._by_word.setdefault(word, []).append(rule)
            self._by_prefix.extend((prefix, rule) for prefix in first.prefixes)

    def _starting_at(self, word: str) -> list[Rule]:
        found = list(self._by_word.get(word, ()))
        found.extend(rule for prefix, rule in self._by_prefix if word.startswith(prefix))
        return found

    def detect(self, text: str) -> list[Match]:
        """Every rule that matches `text` outside a false friend and not negated, in text order."""
        words = tokens(text)
        candidates: list[tuple[int, int, Rule]] = []
        excluded: set[int] = set()
        for start, word in enumerate(words):
            for rule in self._starting_at(word):
                end = rule.ends_at(words, start)
                if end is None:
                    continue
                if rule.id in self._friend_ids:
                    excluded.update(range(start, end))
                else:
                    candidates.append((start, end, rule))
        found = []
        seen: set[str] = set()
        for start, end, rule in candidates:
            if excluded.intersection(range(start, end)) or rule.id in seen:
                continue
            if rule.negatable and negated(words, start):
                continue
            seen.add(rule.id)
            found.append(Match(rule.id, rule.kind, rule.phrase, " ".join(words[start:end])))
        return found


@cache
def default_detector() -> Detector:
    rules = tuple(
        Rule.parse(f"{lang}.{kind}.{n}", kind, phrase)
        for lang, by_kind in PHRASES.items()
        for kind, phrases in by_kind.items()
        for n, phrase in enumerate(phrases, 1)
    )
    friends = tuple(
        Rule.parse(f"{lang}.false_friend.{n}", Kind.suicide, phrase)
        for lang, phrases in FALSE_FRIENDS.items()
        for n, phrase in enumerate(phrases, 1)
    )
    return Detector(rules=rules, false_friends=friends)


def detect(*texts: str | None) -> list[Match]:
    """Matches in each of `texts` (a need's title and description, a message), in order."""
    detector = default_detector()
    return [m for text in texts if text for m in detector.detect(text)]


def kinds(*texts: str | None) -> frozenset[Kind]:
    return frozenset(m.kind for m in detect(*texts))
