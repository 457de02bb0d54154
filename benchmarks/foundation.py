"""Foundation benchmark: what extra samples buy on the embedded model.

For each dataset (100 problems each by default) and the embedded default model:

- greedy: one sample at temperature 0;
- self-consistency at N = 1, 3, 5, 9 (temperature 0.7, early stopping on);
- best-of-N with the programmatic verifier (`ExpectedAnswer`) at N = 1, 3, 5, 9;
- pass@N: whether any of the first N samples is right. With the oracle verifier this is
  exactly what best-of-N scores, since candidate i is sampled with seed i in both;
- ponder's overhead: wall time outside model calls, as a share of the total.

Run:  .venv/bin/python benchmarks/foundation.py [--limit 100] [--ns 1,3,5,9]
Writes benchmarks/results/foundation.json and foundation.md, and prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


@dataclass
class Cell:
    """The runs of one method at one N on one dataset."""

    correct: list[bool] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    model_seconds: list[float] = field(default_factory=list)

    def add(self, result: ponder.RunResult, expected: str) -> None:
        self.correct.append(answers_match(result.answer, expected))
        self.tokens.append(result.usage.tokens)
        self.calls.append(result.usage.calls)
        self.wall.append(result.wall_seconds)
        self.model_seconds.append(result.usage.model_seconds)

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
            "overhead_share": (wall - sum(self.model_seconds)) / wall if wall else 0.0,
        }


async def run(datasets: list[str], limit: int, ns: list[int], seed: int) -> dict[str, Any]:
    model = EmbeddedChatModel.from_name("smollm2")
    big = ponder.Budget(tokens=20_000)
    report: dict[str, Any] = {
        "model": "smollm2 (SmolLM2-135M-Instruct Q4_1, llama.cpp, CPU)",
        "machine": f"{platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cores",
        "limit": limit,
        "ns": ns,
        "seed": seed,
        "datasets": {},
    }
    for dataset in datasets:
        problems = load(dataset, limit)
        cells: dict[str, Cell] = {}
        started = time.monotonic()
        for index, (question, expected) in enumerate(problems):
            greedy = await ponder.asolve(
                question,
                model=model,
                budget=big,
                seed=seed,
                max_samples=1,
                min_samples=1,
                temperature=0.0,
            )
            cells.setdefault("greedy", Cell()).add(greedy, expected)
            for n in ns:
                sc = await ponder.asolve(
                    question,
                    model=model,
                    budget=big,
                    seed=seed,
                    max_samples=n,
                    min_samples=min(3, n),
                )
                cells.setdefault(f"self-consistency N={n}", Cell()).add(sc, expected)
                bon = await ponder.asolve(
                    question,
                    "best-of-n",
                    model=model,
                    budget=big,
                    seed=seed,
                    verifier=ponder.ExpectedAnswer(expected),
                    n=n,
                )
                cells.setdefault(f"best-of-n N={n}", Cell()).add(bon, expected)
            done = index + 1
            accuracy = sum(cells["greedy"].correct) / done
            print(
                f"\r{dataset}: {done}/{len(problems)} problems, greedy {accuracy:.0%}, "
                f"{time.monotonic() - started:.0f} s",
                end="",
                file=sys.stderr,
                flush=True,
            )
        print(file=sys.stderr)
        report["datasets"][dataset] = {name: cell.summary() for name, cell in cells.items()}
    return report


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Model: {report['model']}; machine: {report['machine']}; "
        f"{report['limit']} problems per dataset; seed {report['seed']}.",
        "",
        "| dataset | method | accuracy | tokens / problem | calls / problem "
        "| s / problem (mean) | overhead |",
        "|---|---|---|---|---|---|---|",
    ]
    for dataset, cells in report["datasets"].items():
        for name, s in cells.items():
            lines.append(
                f"| {dataset} | {name} | {s['accuracy']:.0%} | {s['tokens_per_problem']:.0f} "
                f"| {s['calls_per_problem']:.2f} | {s['seconds_per_problem']:.2f} "
                f"| {s['overhead_share']:.1%} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="arithmetic,addsub")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--ns", default="1,3,5,9")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS / "foundation"))
    args = parser.parse_args()
    report = asyncio.run(
        run(args.datasets.split(","), args.limit, [int(n) for n in args.ns.split(",")], args.seed)
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    out.with_suffix(".md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
