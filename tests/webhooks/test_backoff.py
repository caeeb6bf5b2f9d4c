"""Backoff with full jitter: the window doubles up to the cap, and the wait is drawn from all of it."""

import itertools
import random

from app.webhooks.delivery import backoff_seconds


class Fixed:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def _waits(rng: object, attempts: range, *, base: float = 1.0, cap: float = 60.0) -> list[float]:
    return [backoff_seconds(n, base=base, cap=cap, rng=rng) for n in attempts]  # type: ignore[arg-type]


def test_the_window_doubles_from_base_up_to_the_cap() -> None:
    # A draw just under 1 shows the window itself; half of it, its middle.
    assert _waits(Fixed(0.5), range(1, 9)) == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert _waits(Fixed(0.0), range(1, 4)) == [0.0, 0.0, 0.0]
    assert _waits(Fixed(0.5), range(1, 4), base=10, cap=25) == [5.0, 10.0, 12.5]


def test_very_many_attempts_stay_at_the_cap() -> None:
    assert backoff_seconds(10_000, base=1.0, cap=60.0, rng=Fixed(0.5)) == 30.0  # type: ignore[arg-type]


def test_seeded_waits_are_jittered_within_a_growing_window() -> None:
    rng = random.Random(20261126)
    samples = {n: [backoff_seconds(n, base=1.0, cap=60.0, rng=rng) for _ in range(200)] for n in range(1, 9)}
    for n, waits in samples.items():
        ceiling = min(60.0, 2.0 ** (n - 1))
        assert all(0 <= w < ceiling for w in waits)
        assert len(set(waits)) == 200  # no two retries of a crowd land together
        # Spread over the whole window, not bunched at its end.
        assert min(waits) < ceiling * 0.05
        assert max(waits) > ceiling * 0.95
    # While the window still grows (1, 2, 4 ... 32, then the cap), so do the longest waits.
    highest = [max(samples[n]) for n in range(1, 8)]
    assert all(a < b for a, b in itertools.pairwise(highest))
    assert max(samples[8]) < 60.0


def test_the_same_seed_gives_the_same_waits() -> None:
    first = _waits(random.Random(7), range(1, 6))
    again = _waits(random.Random(7), range(1, 6))
    assert first == again
    assert first != _waits(random.Random(8), range(1, 6))
