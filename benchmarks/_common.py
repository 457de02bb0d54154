"""Shared pieces of the benchmark scripts: datasets, the replaying model, result cells."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ponder
from ponder.eval._replay import ReplayingModel
from ponder.eval.datasets import load_dataset
from ponder.verify import answers_match

RESULTS = Path(__file__).parent / "results"


def load(name: str, limit: int) -> list[tuple[str, str]]:
    """Return the first ``limit`` (question, answer) pairs of a dataset shipped with ponder."""
    return [(p.question, p.answer) for p in load_dataset(name, limit=limit).problems]


def write_report(report: dict[str, Any], table: str, out: Path) -> None:
    """Write a benchmark's JSON and markdown next to each other, and print the table."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(table)
    print(table)


RecordedModel = ReplayingModel
"""The embedded model, making each distinct seeded call once and replaying it after."""


@dataclass
class Cell:
    """The runs of one method at one N on one dataset."""

    correct: list[bool] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    overhead: list[float] = field(default_factory=list)

    def add(self, result: ponder.RunResult, correct: bool | str, model_seconds: float) -> None:
        """Record one run; ``correct`` is a verdict or the expected answer to compare."""
        overhead = max(0.0, result.wall_seconds - result.usage.model_seconds)
        if isinstance(correct, str):
            correct = answers_match(result.answer, correct)
        self.correct.append(correct)
        self.tokens.append(result.usage.tokens)
        self.calls.append(result.usage.calls)
        self.wall.append(model_seconds + overhead)
        self.overhead.append(overhead)

    def summary(self) -> dict[str, float]:
        n = len(self.correct)
        wall = sum(self.wall)
        return {
            "problems": n,
            "accuracy": sum(self.correct) / n,
            "tokens_per_problem": statistics.mean(self.tokens),
            "calls_per_problem": statistics.mean(self.calls),
            "seconds_per_problem": statistics.mean(self.wall),
            "median_seconds": statistics.median(self.wall),
            "overhead_share": sum(self.overhead) / wall if wall else 0.0,
        }
