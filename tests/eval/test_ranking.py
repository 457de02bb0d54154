"""Fitting the answer ranker on stored pools (no model calls)."""

from __future__ import annotations

from typing import Any

import pytest

from ponder.eval.allocation import pool_of
from ponder.eval.ranking import examples_of, fit_logistic, fit_ranker


def _draw(answer: str | None, correct: bool) -> dict[str, Any]:
    return {"answer": answer, "correct": correct, "tokens_in": 10, "tokens_out": 5,
            "confidence": None}  # fmt: skip


def _row(
    index: int, *, right: str, greedy: str, samples: list[str], program: str
) -> dict[str, Any]:
    return {
        "dataset": "arithmetic", "id": str(index), "split": "tune", "expected": right,
        "greedy": _draw(greedy, greedy == right),
        "samples": [_draw(a, a == right) for a in samples],
        "programs": [_draw(program, program == right) for _ in range(4)],
    }  # fmt: skip


def _rows() -> list[dict[str, Any]]:
    """Problems where the programs print the right answer and the greedy one is wrong half
    the time: a ranker should learn to trust the programs."""
    rows = []
    for i in range(40):
        right, wrong = str(i + 10), str(i + 100)
        greedy = wrong if i % 2 else right
        rows.append(_row(i, right=right, greedy=greedy, samples=[right, wrong] * 4, program=right))
    return rows


def test_fit_logistic_finds_the_direction_of_the_evidence() -> None:
    weights, bias = fit_logistic([[0.0], [1.0]] * 5, [False, True] * 5, penalty=1.0)
    assert weights[0] > 0 > bias
    with_penalty, _ = fit_logistic([[0.0], [1.0]] * 5, [False, True] * 5, penalty=100.0)
    assert 0 < with_penalty[0] < weights[0]  # the penalty shrinks the weight


def test_programs_are_drawn_in_a_pool_only_when_they_could_move_the_answer() -> None:
    row = _rows()[1]
    assert [c["kind"] for c in pool_of(row, 3, programs=4)].count("program") == 4
    agreed = _row(0, right="1", greedy="2", samples=["2"] * 8, program="1")
    assert [c["kind"] for c in pool_of(agreed, 3, programs=4)].count("program") == 0


def test_examples_are_every_answer_of_every_pool_labelled_by_the_stored_scores() -> None:
    pools = examples_of(_rows()[:2], samples=(2, 3))
    assert len(pools) == 4
    assert all(sum(right for _, right in pool) == 1 for pool in pools)  # one right answer each


def test_fit_ranker_learns_to_trust_the_programs_and_records_its_settings() -> None:
    ranker = fit_ranker(_rows(), model="scripted", fitted_on={"split": "tune"})
    votes, greedy, programs, _ = ranker.weights
    assert programs > greedy
    assert ranker.fitted_on["model"] == "scripted" and ranker.fitted_on["split"] == "tune"
    assert ranker.fitted_on["penalty"] in (0.1, 1.0, 10.0)
    wrong_greedy = _rows()[1]
    assert ranker.best(pool_of(wrong_greedy, 3, programs=4)) == wrong_greedy["expected"]  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one"):
        fit_ranker([])
