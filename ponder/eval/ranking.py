"""Fit the answer ranker (`ponder.nodes.rank.AnswerRanker`) on stored pools.

The examples are the answers of each pool row (`ponder.eval.allocation`) as self-consistency
would see them after 2, 3, 5 and 9 chain-of-thought answers (the greedy one first), with
four programs when they could move the answer (`ponder.nodes.select.programs_can_move`),
each labelled right or wrong by the row's stored scores. The model is an L2-regularized
logistic regression (Newton's method; a handful of weights, no library needed) whose
penalty is chosen by cross-validation over problems on the same rows: the penalty whose
ranker picks the right answer most often on the held-out folds. Fit on the tune split only;
report on another (``benchmarks/ranker.py``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from typing import Any

from ponder.eval.allocation import PoolRow, is_right, pool_of
from ponder.nodes.rank import AnswerRanker, answer_features

__all__ = ("PENALTIES", "PROGRAMS", "SAMPLE_COUNTS", "examples_of", "fit_logistic", "fit_ranker")

SAMPLE_COUNTS = (2, 3, 5, 9)
"""The chain-of-thought answers per example pool (greedy's included)."""

PENALTIES = (0.1, 1.0, 10.0)
"""The L2 penalties cross-validation chooses among."""

PROGRAMS = 4
"""The programs per example pool (drawn when they could move the answer, as
self-consistency draws them)."""


def examples_of(
    rows: Iterable[PoolRow], samples: Sequence[int] = SAMPLE_COUNTS
) -> list[list[tuple[tuple[float, ...], bool]]]:
    """Per pool (row and sample count): each answer's features and whether it is right."""
    out = []
    for row in rows:
        for count in samples:
            pool = pool_of(row, count, programs=PROGRAMS)
            features = answer_features(pool)  # type: ignore[arg-type]
            out.append([(f, is_right(row, answer)) for answer, f in features.items()])
    return out


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """Solve a small linear system by Gaussian elimination with partial pivoting."""
    n = len(vector)
    a = [[*row, value] for row, value in zip(matrix, vector, strict=True)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        a[col], a[pivot] = a[pivot], a[col]
        for r in range(n):
            if r != col and a[col][col]:
                factor = a[r][col] / a[col][col]
                a[r] = [x - factor * y for x, y in zip(a[r], a[col], strict=True)]
    return [a[i][n] / a[i][i] if a[i][i] else 0.0 for i in range(n)]


def fit_logistic(
    xs: Sequence[Sequence[float]], ys: Sequence[bool], *, penalty: float, steps: int = 25
) -> tuple[list[float], float]:
    """Fit weights and a bias minimizing the log loss plus ``penalty``/2 x |weights|^2.

    Example:
        >>> weights, bias = fit_logistic([[0.0], [1.0], [0.0], [1.0]],
        ...                              [False, True, False, True], penalty=1.0)
        >>> weights[0] > 0 > bias
        True
    """
    d = len(xs[0]) + 1
    w = [0.0] * d
    rows = [[*x, 1.0] for x in xs]
    for _ in range(steps):
        gradient = [penalty * w[j] if j < d - 1 else 0.0 for j in range(d)]
        hessian = [[(penalty if i == j and i < d - 1 else 0.0) for j in range(d)]
                   for i in range(d)]  # fmt: skip
        for x, y in zip(rows, ys, strict=True):
            z = max(-60.0, min(60.0, sum(a * b for a, b in zip(w, x, strict=True))))
            p = 1.0 / (1.0 + math.exp(-z))
            for i in range(d):
                gradient[i] += (p - y) * x[i]
                for j in range(d):
                    hessian[i][j] += p * (1 - p) * x[i] * x[j]
        hessian = [[h + (1e-9 if i == j else 0.0) for j, h in enumerate(row)]
                   for i, row in enumerate(hessian)]  # fmt: skip
        step = _solve(hessian, gradient)
        w = [a - b for a, b in zip(w, step, strict=True)]
        if max(abs(s) for s in step) < 1e-8:
            break
    return w[:-1], w[-1]


Pools = Sequence[list[tuple[tuple[float, ...], bool]]]


def _picked_right(pools: Pools, ranker: AnswerRanker) -> int:
    total = 0
    for pool in pools:
        if pool:
            logits = [sum(w * x for w, x in zip(ranker.weights, f, strict=True)) for f, _ in pool]
            total += pool[max(range(len(pool)), key=lambda i: logits[i])][1]
    return total


def _fit(pools: Pools, penalty: float) -> AnswerRanker:
    xs = [f for pool in pools for f, _ in pool]
    ys = [y for pool in pools for _, y in pool]
    weights, bias = fit_logistic(xs, ys, penalty=penalty)
    return AnswerRanker(weights=tuple(weights), bias=bias)


def fit_ranker(
    rows: Sequence[PoolRow], *, folds: int = 5, seed: int = 0, model: str = "",
    fitted_on: dict[str, Any] | None = None,
) -> AnswerRanker:  # fmt: skip
    """Fit the answer ranker on ``rows`` (the tune split's pools), its penalty by CV.

    Each of `PENALTIES` is scored by how many held-out pools its ranker answers right over
    ``folds`` folds of the problems (shuffled with ``seed``); the best (the smallest, on a
    tie) is refitted on every row.
    """
    if not rows:
        raise ValueError("fit_ranker needs at least one pool row")
    per_row = [examples_of([row]) for row in rows]  # each row's pools, built once
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    parts = [set(order[i::folds]) for i in range(folds)]
    scores = {}
    for penalty in PENALTIES:
        right = 0
        for held in parts:
            train = [pool for i, pools in enumerate(per_row) if i not in held for pool in pools]
            test = [pool for i, pools in enumerate(per_row) if i in held for pool in pools]
            right += _picked_right(test, _fit(train, penalty))
        scores[penalty] = right
    penalty = max(PENALTIES, key=lambda p: (scores[p], -p))
    fitted = _fit([pool for pools in per_row for pool in pools], penalty)
    settings = {"model": model, "penalty": penalty, "samples": list(SAMPLE_COUNTS),
                "programs": PROGRAMS, "cv_right": {str(p): s for p, s in scores.items()},
                **(fitted_on or {})}  # fmt: skip
    return AnswerRanker(weights=fitted.weights, bias=fitted.bias, fitted_on=settings)
