"""Foundation benchmark: what extra samples buy on the embedded model.

For each dataset (100 problems each by default) and the embedded default model:

- greedy: one sample at temperature 0;
- self-consistency at N = 1, 3, 5, 9 (temperature 0.7, early stopping on);
- best-of-N with the programmatic verifier (`ExpectedAnswer`) at N = 1, 3, 5, 9;
- pass@N: whether any of the first N samples is right. With the oracle verifier this is
  exactly what best-of-N scores, since candidate i is sampled with seed i in both;
- ponder's overhead: wall time outside model calls, as a share of the total.

Every strategy runs for real (its graph, routing, early stopping and budget checks), but a
model call is made once: candidate i of every strategy is sampled with seed i at the same
temperature and prompt, so a later strategy asking for the same call (same messages, seed,
temperature and cap) gets the recorded reply, with the usage the model reported and the
latency it took the first time. Seconds per problem are therefore the model time each
strategy would have spent (recorded latencies) plus ponder's own measured overhead.

Run:  .venv/bin/python benchmarks/foundation.py [--limit 100] [--ns 1,3,5,9]
Writes benchmarks/results/foundation.json and foundation.md, and prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import time
from pathlib import Path
from typing import Any

from _common import RESULTS, Cell, RecordedModel, load, write_report
from langchain_core.messages import HumanMessage

import ponder
from ponder.models import EmbeddedChatModel


async def run(datasets: list[str], limit: int, ns: list[int], seed: int) -> dict[str, Any]:
    base = EmbeddedChatModel.from_name("smollm2")
    model = RecordedModel.wrapping(base)
    model.count_prompt_tokens([HumanMessage("warm up")])  # load the weights before timing
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
            runs: list[tuple[str, str, dict[str, Any]]] = [
                (
                    "greedy",
                    "self-consistency",
                    {"max_samples": 1, "min_samples": 1, "temperature": 0.0},
                ),
            ]
            runs += [
                (
                    f"self-consistency N={n}",
                    "self-consistency",
                    {"max_samples": n, "min_samples": min(3, n)},
                )
                for n in ns
            ]
            runs += [
                (
                    f"best-of-n N={n}",
                    "best-of-n",
                    {"verifier": ponder.ExpectedAnswer(expected), "n": n},
                )
                for n in ns
            ]
            for name, strategy, options in runs:
                before = model.charged_seconds
                result = await ponder.asolve(
                    question, strategy, model=model, budget=big, seed=seed, **options
                )
                cell = cells.setdefault(name, Cell())
                cell.add(result, expected, model.charged_seconds - before)
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
    write_report(report, markdown(report), Path(args.out))


if __name__ == "__main__":
    main()
