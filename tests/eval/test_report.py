from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from ponder.errors import ConfigurationError
from ponder.eval import Bench, ProblemResult
from ponder.eval.plot import plot_accuracy_tokens
from ponder.eval.report import (
    by_bin,
    command_of,
    compute_optimal,
    interpolate_tokens,
    markdown,
    report_data,
    summarize,
    wilson_interval,
)


def test_wilson_interval() -> None:
    assert wilson_interval(8, 10) == (0.49, 0.943)
    assert wilson_interval(0, 10) == (0.0, 0.278)
    assert wilson_interval(10, 10) == (0.722, 1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_interpolate_tokens() -> None:
    curve = [(100.0, 0.2), (300.0, 0.6), (900.0, 0.7)]
    assert interpolate_tokens(curve, 0.4) == 200.0
    assert interpolate_tokens(curve, 0.1) == 100.0
    assert interpolate_tokens(curve, 0.7) == 900.0
    assert interpolate_tokens(curve, 0.8) is None
    # a dip is skipped: the curve is the best accuracy reached so far
    assert interpolate_tokens([(100.0, 0.5), (200.0, 0.3), (400.0, 0.7)], 0.6) == 250.0


def cell(
    strategy: str, budget: int, tokens: float, accuracy: float, verifier: str = "none"
) -> dict[str, Any]:
    bounds = [max(0.0, accuracy - 0.1), min(1.0, accuracy + 0.1)]
    return {
        "strategy": strategy, "budget": budget, "mean_tokens": tokens, "accuracy": accuracy,
        "verifier": verifier, "ci95": bounds,
    }  # fmt: skip


def test_compute_optimal_ratio_against_best_of_n() -> None:
    cells = [
        cell("best-of-n", 250, 200, 0.2, "oracle"), cell("best-of-n", 1000, 800, 0.6, "oracle"),
        cell("adaptive", 250, 100, 0.2), cell("adaptive", 1000, 200, 0.6),
        cell("refine", 250, 300, 0.1), cell("refine", 1000, 900, 0.1),
    ]  # fmt: skip
    result = compute_optimal(cells)
    assert result["baseline"] == "best-of-n" and result["baseline_verifier"] == "oracle"
    rows = {row["accuracy"]: row for row in result["targets"]}
    assert set(rows) == {0.1, 0.2, 0.6}
    assert rows[0.6]["tokens"] == {"best-of-n": 800.0, "adaptive": 200.0, "refine": None}
    assert rows[0.6]["ratio"] == {"adaptive": 4.0, "refine": None}
    assert rows[0.2]["ratio"]["adaptive"] == 2.0
    assert result["median_ratio"]["adaptive"] == 2.0  # over 0.1 (2.0), 0.2 (2.0), 0.6 (4.0)
    assert result["median_ratio"]["refine"] == pytest.approx(200 / 300)
    assert compute_optimal([cell("adaptive", 1, 1, 0.5)])["baseline"] is None


def result(
    index: int, strategy: str, budget: int, correct: bool | None, **extra: Any
) -> ProblemResult:
    values: dict[str, Any] = {
        "bench_id": "b", "strategy": strategy, "budget": budget, "problem_index": index,
        "problem_id": str(index), "level": None, "verifier": "none", "status": "done",
        "correct": correct, "pass_at_n": correct, "candidates": 2, "answer": "1",
        "expected": "1", "tokens": 100 * (index + 1), "calls": 2, "wall_seconds": 1.0,
        "difficulty": None, "error": None, "created_at": 0.0,
    }  # fmt: skip
    values.update(extra)
    return ProblemResult(**values)


def bench(results: list[ProblemResult]) -> Bench:
    config = {
        "dataset": "arithmetic", "strategies": ["adaptive", "self-consistency"], "budgets": [250],
        "limit": 4, "model": None, "model_name": "smollm2", "seed": 0, "scorer": "number",
        "problems": 4, "question_field": "question", "answer_field": "answer", "scorer_name": None,
    }  # fmt: skip
    return Bench(bench_id="b", config=config, results=results)


def test_bins_from_dataset_levels_or_adaptive_estimates() -> None:
    levelled = bench([
        result(0, "self-consistency", 250, True, level="Level 1"),
        result(1, "self-consistency", 250, False, level="Level 2"),
        result(2, "self-consistency", 250, True, level="Level 2"),
    ])  # fmt: skip
    bins = by_bin(levelled)
    assert bins["source"] == "dataset level"
    assert [(r["bin"], r["problems"], r["correct"]) for r in bins["bins"]] == [
        ("Level 1", 1, 1), ("Level 2", 2, 1),
    ]  # fmt: skip
    estimated = bench([
        result(0, "adaptive", 250, True, difficulty=0.0),
        result(1, "adaptive", 250, False, difficulty=0.9),
        result(1, "adaptive", 100, False, difficulty=0.0),  # fewer probes: not the one used
        result(0, "self-consistency", 250, True),
        result(1, "self-consistency", 250, True),
    ])  # fmt: skip
    bins = by_bin(estimated)
    assert bins["source"] == "adaptive difficulty estimate"
    assert {(r["strategy"], r["bin"], r["correct"]) for r in bins["bins"]} == {
        ("adaptive", "easy", 1), ("adaptive", "hard", 0),
        ("self-consistency", "easy", 1), ("self-consistency", "hard", 1),
    }  # fmt: skip
    assert by_bin(bench([result(0, "self-consistency", 250, True)]))["bins"] == []


def test_summary_and_markdown() -> None:
    data = bench([
        result(0, "self-consistency", 250, True),
        result(1, "self-consistency", 250, False, status="failed", error="ModelError: down"),
        result(0, "adaptive", 250, True, difficulty=0.0),
        result(1, "adaptive", 250, None, pass_at_n=None),
    ])  # fmt: skip
    cells = summarize(data)
    assert [c["strategy"] for c in cells] == ["adaptive", "self-consistency"]
    sc = cells[1]
    assert (sc["problems"], sc["correct"], sc["accuracy"], sc["failed"]) == (2, 1, 0.5, 1)
    assert sc["mean_tokens"] == 150.0 and sc["pass_at_n"] == 0.5
    assert cells[0]["unscored"] == 1 and cells[0]["pass_at_n"] == 1.0
    text = markdown(report_data(data), plot="p.png")
    assert "| self-consistency | 250 | none | 2 | 50% | 10%-90% | 150 | 1.0 | - | 50% | 1 |" in text
    assert "ModelError: down" in text and "![accuracy against tokens](p.png)" in text
    assert command_of(data.config) == (
        "ponder bench --dataset arithmetic --strategies adaptive,self-consistency "
        "--budgets 250 --limit 4 --seed 0"
    )


def test_mean_flops_only_where_every_problem_has_the_estimate() -> None:
    data = bench([
        result(0, "self-consistency", 250, True, flops=1e9),
        result(1, "self-consistency", 250, False, flops=3e9),
        result(0, "adaptive", 250, True, flops=2e9),
        result(1, "adaptive", 250, True),  # stored before FLOPs were, or a model of unknown size
    ])  # fmt: skip
    report = report_data(data)
    flops = {c["strategy"]: c["mean_flops"] for c in report["cells"]}
    assert flops == {"self-consistency": 2e9, "adaptive": None}
    text = markdown(report)
    assert "| mean FLOPs |" in text
    assert "| 2 | 50% | 10%-90% | 150 | 1.0 | 2e+09 | 50% | 0 |" in text  # self-consistency
    assert "| 2 | 100% | 34%-100% | 150 | 1.0 | - | 100% | 0 |" in text  # adaptive


def test_plot_is_a_png(tmp_path: Path) -> None:
    cells = [cell("best-of-n", 250, 200, 0.2, "oracle"), cell("best-of-n", 500, 0, 0.0, "oracle"),
             cell("adaptive", 250, 150, 0.3)]  # fmt: skip
    path = plot_accuracy_tokens(cells, tmp_path / "deep" / "plot.png", title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_plot_without_matplotlib_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'ponder\[plot\]'"):
        plot_accuracy_tokens([cell("adaptive", 250, 150, 0.3)], tmp_path / "p.png")
    assert not (tmp_path / "p.png").exists()
