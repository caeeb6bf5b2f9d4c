"""The crisis detector measured on its labelled sets: recall on crisis lines, false positives on look-alikes.

crisis_set.txt is the main set (written before any phrase); crisis_holdout.txt and
crisis_round3.txt were each written later and measured once before they changed any phrase.
Run with `-s` to see the figures per language; docs/safety.md quotes them.
"""

from collections import Counter
from pathlib import Path
from typing import NamedTuple

import pytest

from app.safety.crisis import detect

HERE = Path(__file__).parent
MAIN = "crisis_set.txt"
ROUNDS = (MAIN, "crisis_holdout.txt", "crisis_round3.txt")
LANGUAGES = ("en", "es", "fr", "de")


class Line(NamedTuple):
    lang: str
    label: str  # a kind, or "-" for a look-alike
    text: str


def labelled(*names: str) -> list[Line]:
    lines = []
    for name in names:
        for raw in (HERE / name).read_text(encoding="utf-8").splitlines():
            if raw.strip() and not raw.startswith("#"):
                head, text = raw.split(" | ", 1)
                lang, label = head.split()
                lines.append(Line(lang, label, text.strip()))
    return lines


def measure(lines: list[Line]) -> tuple[float, float, list[str]]:
    """(recall, false-positive rate, a report line per language)."""
    hits_all = crisis_all = fps_all = lookalikes_all = 0
    report = []
    for lang in LANGUAGES:
        crisis = [line for line in lines if line.lang == lang and line.label != "-"]
        lookalikes = [line for line in lines if line.lang == lang and line.label == "-"]
        hits = [line for line in crisis if detect(line.text)]
        missed = [line.text for line in crisis if line not in hits]
        right_kind = [line for line in hits if line.label in {m.kind for m in detect(line.text)}]
        fps = [line for line in lookalikes if detect(line.text)]
        report.append(
            f"  {lang}: recall {len(hits)}/{len(crisis)} = {len(hits) / len(crisis):.3f}, "
            f"false positives {len(fps)}/{len(lookalikes)} = {len(fps) / len(lookalikes):.3f}, "
            f"kind as labelled {len(right_kind)}/{len(hits)}; "
            f"missed {missed}, flagged {[line.text for line in fps]}"
        )
        hits_all, crisis_all = hits_all + len(hits), crisis_all + len(crisis)
        fps_all, lookalikes_all = fps_all + len(fps), lookalikes_all + len(lookalikes)
    recall, fp_rate = hits_all / crisis_all, fps_all / lookalikes_all
    report.append(
        f"  all: recall {hits_all}/{crisis_all} = {recall:.3f}, "
        f"false positives {fps_all}/{lookalikes_all} = {fp_rate:.3f}"
    )
    return recall, fp_rate, report


def test_the_main_set_is_large_enough_and_covers_every_language() -> None:
    lines = labelled(MAIN)
    assert len(lines) >= 200
    counts = Counter((line.lang, line.label == "-") for line in lines)
    for lang in LANGUAGES:
        assert counts[(lang, False)] >= 25
        assert counts[(lang, True)] >= 25
    assert {line.label for line in lines} == {"-", "suicide", "self_harm", "abuse", "danger"}


@pytest.mark.parametrize("names", [(MAIN,), ROUNDS], ids=["main set", "all rounds"])
def test_recall_and_false_positives(names: tuple[str, ...]) -> None:
    recall, fp_rate, report = measure(labelled(*names))
    print(f"\n{' + '.join(names)}:\n" + "\n".join(report))
    assert recall >= 0.95, report
    assert fp_rate <= 0.05, report
