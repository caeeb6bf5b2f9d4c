"""The crisis detector's rules: folding, negation, false friends, clause ends and explanations."""

import pytest

from app.safety.crisis import Rule, default_detector, detect, kinds, tokens
from app.safety.kinds import Kind


def test_tokens_fold_case_accents_and_english_contractions() -> None:
    assert tokens("Je NE veux plus vivre. Ich möchte; I don't") == [
        "je", "ne", "veux", "plus", "vivre", "|", "ich", "mochte", "|", "i", "do", "not",
    ]  # fmt: skip
    assert tokens("¿Qué? Hilfe, bitte y ya") == ["|", "que", "|", "hilfe", ",", "bitte", "|", "ya"]


@pytest.mark.parametrize(
    "text",
    [
        "quiero suicidarme",
        "pensé en suicidarme",
        "je veux me suicider",
        "ich möchte nicht mehr leben",
        "ich moechte nicht mehr leben",
        "ich mochte nicht mehr leben",
        "ICH WILL STERBEN",
        "me hago daño",
        "me hago dano",
    ],
)
def test_accents_and_umlauts_may_be_dropped_or_spelt_out(text: str) -> None:
    assert detect(text), text


@pytest.mark.parametrize(
    "text",
    [
        "I am not suicidal, just need groceries",
        "I'm not going to hurt myself, I just need someone to walk my dog",
        "No soy suicida, solo necesito la compra",
        "Je ne suis pas suicidaire",
        "Ich bin nicht suizidgefährdet",
        "I never want to die alone in this flat, so I'd like a weekly call",
    ],
)
def test_a_clearly_negated_mention_is_not_a_crisis(text: str) -> None:
    assert detect(text) == [], text


@pytest.mark.parametrize(
    "text",
    [
        # The negation belongs to another clause, or is too far back to reach the phrase.
        "I'm not hungry, I want to die",
        "I'm not hungry and I want to die",
        "I don't know why but I want to kill myself",
        "No tengo hambre, quiero morir",
        "Je n'ai pas faim, je veux mourir",
        # Phrases whose meaning is a negation are not undone by it.
        "I don't want to live anymore",
        "no quiero vivir más",
        "je ne veux plus vivre",
        "ich will nicht mehr leben",
    ],
)
def test_a_negation_reaches_only_its_own_clause(text: str) -> None:
    assert detect(text), text


@pytest.mark.parametrize(
    "text",
    [
        "I'm dying to try the new bakery",
        "This traffic is killing me",
        "Looking for someone to kill time with",
        "Suicide Squad movie night, need a lift",
        "Volunteers needed for a suicide prevention walk",
        "I killed myself laughing at the panto",
        "me muero de ganas de verte",
        "quiero morir de risa con esta serie",
        "je meurs de faim",
        "j'ai envie de mourir de rire",
        "Ich bin todmüde",
        "Lauf für Suizidprävention",
        "I hurt myself in a fall and need help with shopping",
        "me corté el pelo",
        "I cut myself shaving",
        "Need help cutting again the hedge next week",
    ],
)
def test_false_friends_and_everyday_phrases_are_not_a_crisis(text: str) -> None:
    assert detect(text) == [], text


def test_a_gap_does_not_swallow_a_negation() -> None:
    assert detect("ich will sterben")
    assert detect("ich will nicht sterben") == []


def test_each_match_names_its_rule_and_the_words() -> None:
    match = detect("My husband beats me when he drinks")[0]
    assert match.kind == Kind.abuse
    assert match.rule.startswith("en.abuse.")
    assert "beats me" in match.words
    rule = next(r for r in default_detector().rules if r.id == match.rule)
    assert rule.phrase == match.phrase


def test_kinds_of_several_texts() -> None:
    assert kinds("Groceries please", None, "I want to kill myself") == {Kind.suicide}
    assert kinds("Mi pareja me pega", "estoy en peligro") == {Kind.abuse, Kind.danger}
    assert kinds("Groceries please", "", None) == frozenset()


def test_rule_ids_are_unique_and_every_phrase_parses() -> None:
    detector = default_detector()
    ids = [r.id for r in (*detector.rules, *detector.false_friends)]
    assert len(ids) == len(set(ids))
    assert {r.kind for r in detector.rules} == set(Kind)
    for lang in ("en", "es", "fr", "de"):
        assert any(r.id.startswith(f"{lang}.") for r in detector.rules)


@pytest.mark.parametrize("phrase", ["~2 die", "want ~1", "$ die", ""])
def test_a_phrase_must_start_with_a_word_and_not_end_in_a_gap(phrase: str) -> None:
    with pytest.raises(ValueError, match="must start and end with a word"):
        Rule.parse("xx.suicide.1", Kind.suicide, phrase)


def test_a_long_text_is_read_quickly() -> None:
    import time

    text = "Milk, bread and fruit for my neighbour; I can pay on delivery. " * 60  # ~3,800 characters
    start = time.perf_counter()
    assert detect(text + " I want to kill myself")
    assert time.perf_counter() - start < 0.5
