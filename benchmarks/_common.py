"""Shared pieces of the benchmark scripts: datasets, the replaying model, result cells."""

from __future__ import annotations

import gzip
import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from pydantic import Field

import ponder
from ponder.models import EmbeddedChatModel
from ponder.verify import answers_match

DATA = Path(__file__).parent / "data"
RESULTS = Path(__file__).parent / "results"


def load(name: str, limit: int) -> list[tuple[str, str]]:
    """Return (question, answer) pairs of a dataset copied into benchmarks/data."""
    if name == "arithmetic":
        rows = [json.loads(line) for line in (DATA / "basic_skills_arithmetic.jsonl").open()]
        return [(row["question"], str(row["answer"])) for row in rows[:limit]]
    if name == "addsub":
        items = json.loads((DATA / "addsub.json").read_text())
        return [(i["sQuestion"].strip(), str(i["lSolutions"][0])) for i in items[:limit]]
    if name == "singleeq":
        items = json.loads((DATA / "singleeq.json").read_text())
        return [(i["sQuestion"].strip(), str(i["lSolutions"][0])) for i in items[:limit]]
    raise SystemExit(f"unknown dataset {name!r}")


def write_report(report: dict[str, Any], table: str, out: Path) -> None:
    """Write a benchmark's JSON and markdown next to each other, and print the table."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(table)
    print(table)


def load_humaneval(limit: int) -> list[dict[str, Any]]:
    """Return the first ``limit`` HumanEval problems."""
    with gzip.open(DATA / "HumanEval.jsonl.gz", "rt") as rows:
        return [json.loads(line) for _, line in zip(range(limit), rows, strict=False)]


class RecordedModel(EmbeddedChatModel):
    """The embedded model, making each distinct call once and replaying it after."""

    replies: dict[Any, tuple[ChatResult, float]] = Field(default_factory=dict)
    charged_seconds: float = 0.0
    """Recorded latency of every call served, replayed or not."""

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        key = (
            tuple((m.type, m.text) for m in messages),
            tuple(stop or ()),
            kwargs.get("max_tokens"),
            kwargs.get("temperature"),
            kwargs.get("seed"),
        )
        if key not in self.replies:
            started = time.monotonic()
            result = super()._generate(messages, stop, run_manager, **kwargs)
            self.replies[key] = (result, time.monotonic() - started)
        result, seconds = self.replies[key]
        self.charged_seconds += seconds
        return result


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
