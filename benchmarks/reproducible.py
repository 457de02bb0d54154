"""What reproducible decoding costs: strategies with ``reproducible`` on and off, side by side.

`EmbeddedChatModel(reproducible=True)` (the default) decodes each step of a run as one group,
alone, from a canonical cache layout (`ponder.models._batch`); ``False`` mixes a step's calls
into whatever else is decoding. Each configuration runs the same solves (SmolLM2-135M, seeds
fixed, a verifier that accepts nothing so every run goes to its end), alternated within each
repeat; each cell is the median wall time of the three problems' solves together. The run
also checks, for the reproducible model, that every repeat drew the same candidates.

Run:  flock /tmp/ponder-measure.lock .venv/bin/python benchmarks/reproducible.py [--repeats 5]
Writes benchmarks/results/reproducible.json and .md, and prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
from typing import Any

from _common import RESULTS, write_report

import ponder
from ponder.models import EmbeddedChatModel

PROBLEMS = [
    "A farmer has 17 cows and buys 25 more. How many cows does he have now?",
    "Tom reads 12 pages a day for 6 days. How many pages does he read?",
    "A box holds 48 apples. 19 are eaten. How many apples are left?",
]
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "self-consistency (defaults)": ("self-consistency", {}),
    "self-consistency, 8 samples": ("self-consistency", {"max_samples": 8, "agreement": 1.0}),
    "best-of-n, 8 candidates, one per step": ("best-of-n", {"n": 8, "per_step": 1}),
    "best-of-n, 8 candidates in one step": ("best-of-n", {"n": 8, "per_step": 8}),
    "refine, 2 rounds": ("refine", {"max_rounds": 2}),
}


async def solve_all(model: EmbeddedChatModel, strategy: str, options: dict[str, Any]) -> Any:
    """Solve every problem; return the candidates' texts (to compare repeats)."""
    texts = []
    for problem in PROBLEMS:
        result = await ponder.asolve(
            problem, strategy, model=model, budget=ponder.Budget(tokens=8000),  # type: ignore[arg-type]
            verifier=ponder.ExpectedAnswer("no such answer"), **options,
        )  # fmt: skip
        texts.append([c["text"] for c in result.candidates])
    return texts


async def measure(repeats: int) -> list[dict[str, Any]]:
    models = {flag: EmbeddedChatModel.from_name("smollm2", reproducible=flag) for flag in (1, 0)}
    await ponder.asolve("2 + 2 =", model=models[1], budget=ponder.Budget(tokens=300))  # warm-up
    times: dict[tuple[str, int], list[float]] = {}
    drawn: dict[str, set[str]] = {}
    for repeat in range(repeats):
        for name, (strategy, options) in CASES.items():
            for flag in (1, 0) if repeat % 2 == 0 else (0, 1):
                started = time.monotonic()
                texts = await solve_all(models[flag], strategy, options)
                times.setdefault((name, flag), []).append(time.monotonic() - started)
                if flag:
                    drawn.setdefault(name, set()).add(repr(texts))
        print(f"repeat {repeat + 1} of {repeats} done", flush=True)
    rows = []
    for name in CASES:
        on, off = statistics.median(times[(name, 1)]), statistics.median(times[(name, 0)])
        rows.append(
            {
                "case": name,
                "reproducible_s": on,
                "mixed_s": off,
                "ratio": on / off,
                "reproducible_runs": times[(name, 1)],
                "mixed_runs": times[(name, 0)],
                "distinct_candidate_sets": len(drawn[name]),
            }
        )
    return rows


def table(report: dict[str, Any]) -> str:
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores; load average "
        f"{report['load_start']:.2f} at start, {report['load_end']:.2f} at end. Three problems "
        f"per cell, median of {report['repeats']} repeats, configurations alternated.",
        "",
        "| strategy | `reproducible=False` s | `reproducible=True` (default) s | ratio | "
        "distinct candidate sets over the repeats (reproducible) |",
        "|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        lines.append(
            f"| {row['case']} | {row['mixed_s']:.2f} | {row['reproducible_s']:.2f} | "
            f"{row['ratio']:.2f}x | {row['distinct_candidate_sets']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    rows = asyncio.run(measure(args.repeats))
    report = {
        "repeats": args.repeats,
        "load_start": load_start,
        "load_end": os.getloadavg()[0],
        "rows": rows,
    }
    write_report(report, table(report), RESULTS / "reproducible.md")


if __name__ == "__main__":
    main()
