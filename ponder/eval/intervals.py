"""The paired interval of a difference in accuracy: two methods scored on the same problems.

Two strategies run on the same problems are compared per problem: the difference of their
accuracies is the mean of the per-problem differences (each -1, 0 or +1), and its interval
is a percentile bootstrap over problems, resampling the pairs together. Pairing removes the
problems' own spread (the easy ones both get right, the hard ones both miss), so the interval
is narrower than one built from the two accuracies' separate intervals, and a difference
whose paired interval excludes zero is one the problems support.

The bootstrap is seeded: the same scores give the same interval on every run and machine
(``ponder bench`` reports and the scripts in ``benchmarks/`` both compute it here).

Example:
    >>> paired_interval([1, 1, 1, 0, 1, 1, 0, 1], [1, 0, 1, 0, 1, 0, 0, 1])
    (0.25, 0.0, 0.625)
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from ponder.errors import ConfigurationError

__all__ = ("BOOTSTRAP_ROUNDS", "paired_interval")

BOOTSTRAP_ROUNDS = 2000
"""Resamples of the paired bootstrap (enough for the 2.5th and 97.5th percentiles to hold
to about a point on a few hundred problems)."""


def paired_interval(
    a: Sequence[int | bool], b: Sequence[int | bool], rounds: int = BOOTSTRAP_ROUNDS
) -> tuple[float, float, float]:
    """Return the mean of ``a - b`` and its paired bootstrap 95% interval.

    Args:
        a: One method's score per problem (1 right, 0 wrong).
        b: The other method's score on the same problems, in the same order.
        rounds: Bootstrap resamples (seeded: the result is the same on every run).

    Returns:
        ``(difference, low, high)``: the accuracy of ``a`` minus that of ``b``, and the
        2.5th and 97.5th percentiles of that difference over resampled problems.

    Raises:
        ConfigurationError: No problems, or ``a`` and ``b`` of different lengths.
    """
    if len(a) != len(b):
        raise ConfigurationError(
            f"paired scores need the same problems: {len(a)} scores against {len(b)}"
        )
    n = len(a)
    if n == 0:
        raise ConfigurationError("a paired interval needs at least one problem scored by both")
    pick = random.Random(0).randrange
    diffs = [int(x) - int(y) for x, y in zip(a, b, strict=True)]
    problems = range(n)
    means = sorted(sum([diffs[pick(n)] for _ in problems]) / n for _ in range(rounds))
    return sum(diffs) / n, means[int(0.025 * rounds)], means[int(0.975 * rounds)]
