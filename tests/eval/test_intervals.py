from __future__ import annotations

import random

import pytest

from ponder.errors import ConfigurationError
from ponder.eval import paired_interval


def test_no_difference_and_a_sure_one() -> None:
    same = [1, 0, 1, 1, 0]
    assert paired_interval(same, same) == (0.0, 0.0, 0.0)
    assert paired_interval([1] * 6, [0] * 6) == (1.0, 1.0, 1.0)
    assert paired_interval([False, True], [True, True])[0] == -0.5


def test_pairing_narrows_the_interval_and_it_is_seeded() -> None:
    rng = random.Random(7)
    greedy = [rng.random() < 0.5 for _ in range(200)]
    better = [g or rng.random() < 0.1 for g in greedy]  # right wherever greedy is, and more
    difference, low, high = paired_interval(better, greedy)
    assert difference == pytest.approx(sum(better) / 200 - sum(greedy) / 200)
    assert 0.0 <= low <= difference <= high < 0.15  # pairs never favour greedy
    assert paired_interval(better, greedy) == (difference, low, high)


def test_needs_the_same_problems() -> None:
    with pytest.raises(ConfigurationError, match="same problems: 2 scores against 3"):
        paired_interval([1, 0], [1, 0, 1])
    with pytest.raises(ConfigurationError, match="at least one problem"):
        paired_interval([], [])
