"""Strategies benchmark: accuracy against tokens for every strategy, on the embedded model.

1. Every strategy on the easy sets (basic arithmetic, AddSub) at several token budgets, all
   with the same programmatic verifier (`ExpectedAnswer`, an oracle: it knows the answer, as
   unit tests do for code). Self-consistency ignores the verifier by design.
2. Best-of-N with the unit tests as verifier on the first HumanEval problems, N = 1, 4, 8.
3. Adaptive against uniform best-of-N: accuracy at equal average tokens, and the tokens
   best-of-N needs to reach the adaptive strategy's accuracy (linear interpolation on its
   accuracy-against-tokens curve).

As in benchmarks/foundation.py, each distinct model call is made once and replayed when
another strategy makes the very same call (same messages, seed, temperature and cap).

Run:  .venv/bin/python benchmarks/strategies.py [--limit 15] [--budgets 500,1500]
          [--humaneval 40]
Writes benchmarks/results/strategies.json and strategies.md, and prints the tables.
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
from ponder.eval.bench import STRATEGY_OPTIONS
from ponder.eval.datasets import load_dataset
from ponder.models import EmbeddedChatModel
from ponder.verify import CodeTests, extract_code


def interpolate_tokens(curve: list[tuple[float, float]], accuracy: float) -> float | None:
    """Tokens at which a (tokens, accuracy) curve first reaches ``accuracy``, interpolated."""
    points = sorted(curve)
    previous: tuple[float, float] | None = None
    for tokens, acc in points:
        if acc >= accuracy:
            if previous is None or acc == previous[1]:
                return tokens
            t0, a0 = previous
            return t0 + (accuracy - a0) * (tokens - t0) / (acc - a0)
        previous = (tokens, acc)
    return None


async def easy_sets(
    model: RecordedModel, datasets: list[str], limit: int, budgets: list[int], seed: int
) -> dict[str, Any]:
    report: dict[str, Any] = {}
    for dataset in datasets:
        problems = load(dataset, limit)
        cells: dict[str, Cell] = {}
        started = time.monotonic()
        for index, (question, expected) in enumerate(problems):
            for budget in budgets:
                for strategy, options in STRATEGY_OPTIONS.items():
                    before = model.charged_seconds
                    result = await ponder.asolve(
                        question, strategy, model=model, seed=seed,
                        budget=ponder.Budget(tokens=budget),
                        verifier=ponder.ExpectedAnswer(expected), **options,
                    )  # fmt: skip
                    cell = cells.setdefault(f"{strategy}|{budget}", Cell())
                    cell.add(result, expected, model.charged_seconds - before)
            print(
                f"\r{dataset}: {index + 1}/{len(problems)} problems, "
                f"{time.monotonic() - started:.0f} s",
                end="", file=sys.stderr, flush=True,
            )  # fmt: skip
        print(file=sys.stderr)
        report[dataset] = {name: cell.summary() for name, cell in cells.items()}
    return report


async def humaneval(model: RecordedModel, limit: int, ns: list[int], seed: int) -> dict[str, Any]:
    cells: dict[str, Cell] = {}
    started = time.monotonic()
    problems = load_dataset("humaneval", limit=limit).problems
    for index, problem in enumerate(problems):
        tests = CodeTests(problem.tests or "", prelude=problem.prelude)
        for n in ns:
            before = model.charged_seconds
            result = await ponder.asolve(
                problem.question, "best-of-n", model=model, seed=seed,
                budget=ponder.Budget(tokens=20_000), verifier=tests, extractor=extract_code,
                prompt="code", n=n, temperature=0.8, max_tokens=320,
            )  # fmt: skip
            passed = any(c["verdict"] == "accepted" for c in result.candidates)
            cells.setdefault(f"best-of-n N={n}", Cell()).add(
                result, passed, model.charged_seconds - before
            )
        print(
            f"\rhumaneval: {index + 1}/{len(problems)} problems, "
            f"{time.monotonic() - started:.0f} s",
            end="", file=sys.stderr, flush=True,
        )  # fmt: skip
    print(file=sys.stderr)
    return {name: cell.summary() for name, cell in cells.items()}


def comparison(easy: dict[str, Any], budgets: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dataset, cells in easy.items():
        curve = [
            (cells[f"best-of-n|{b}"]["tokens_per_problem"], cells[f"best-of-n|{b}"]["accuracy"])
            for b in budgets
        ]
        rows = []
        for budget in budgets:
            adaptive = cells[f"adaptive|{budget}"]
            needed = interpolate_tokens(curve, adaptive["accuracy"])
            rows.append(
                {
                    "budget": budget,
                    "adaptive_accuracy": adaptive["accuracy"],
                    "adaptive_tokens": adaptive["tokens_per_problem"],
                    "best_of_n_accuracy": cells[f"best-of-n|{budget}"]["accuracy"],
                    "best_of_n_tokens": cells[f"best-of-n|{budget}"]["tokens_per_problem"],
                    "best_of_n_tokens_to_match": needed,
                    "ratio": None if needed is None else needed / adaptive["tokens_per_problem"],
                }
            )
        out[dataset] = rows
    return out


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Model: {report['model']}; machine: {report['machine']}; {report['limit']} problems "
        f"per easy set, {report['humaneval_problems']} HumanEval problems; seed {report['seed']}.",
        "",
        "| dataset | strategy | budget (tokens) | accuracy | tokens / problem | calls / problem |",
        "|---|---|---|---|---|---|",
    ]
    for dataset, cells in report["easy"].items():
        for name, s in cells.items():
            strategy, budget = name.split("|")
            lines.append(
                f"| {dataset} | {strategy} | {budget} | {s['accuracy']:.0%} "
                f"| {s['tokens_per_problem']:.0f} | {s['calls_per_problem']:.1f} |"
            )
    lines += ["", "| HumanEval | pass rate | tokens / problem | s / problem |", "|---|---|---|---|"]
    for name, s in report["humaneval"].items():
        lines.append(
            f"| {name} | {s['accuracy']:.0%} | {s['tokens_per_problem']:.0f} "
            f"| {s['seconds_per_problem']:.1f} |"
        )
    lines += [
        "",
        "| dataset | budget | adaptive acc. | adaptive tokens | best-of-N acc. | best-of-N tokens "
        "| best-of-N tokens to match adaptive | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for dataset, rows in report["comparison"].items():
        for r in rows:
            needed = r["best_of_n_tokens_to_match"]
            ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
            lines.append(
                f"| {dataset} | {r['budget']} | {r['adaptive_accuracy']:.0%} "
                f"| {r['adaptive_tokens']:.0f} | {r['best_of_n_accuracy']:.0%} "
                f"| {r['best_of_n_tokens']:.0f} "
                f"| {'not reached' if needed is None else f'{needed:.0f}'} "
                f"| {ratio} |"
            )
    return "\n".join(lines) + "\n"


async def run(args: argparse.Namespace) -> dict[str, Any]:
    base = EmbeddedChatModel.from_name("smollm2")
    model = RecordedModel.wrapping(base)
    model.count_prompt_tokens([HumanMessage("warm up")])
    budgets = [int(b) for b in args.budgets.split(",")]
    easy = await easy_sets(model, args.datasets.split(","), args.limit, budgets, args.seed)
    code = await humaneval(model, args.humaneval, [1, 4, 8], args.seed) if args.humaneval else {}
    return {
        "model": "smollm2 (SmolLM2-135M-Instruct Q4_1, llama.cpp, CPU)",
        "machine": f"{platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cores",
        "limit": args.limit,
        "budgets": budgets,
        "humaneval_problems": args.humaneval,
        "seed": args.seed,
        "strategy_options": STRATEGY_OPTIONS,
        "easy": easy,
        "humaneval": code,
        "comparison": comparison(easy, budgets),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="arithmetic,addsub")
    parser.add_argument("--limit", type=int, default=15)
    parser.add_argument("--budgets", default="500,1500")
    parser.add_argument("--humaneval", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS / "strategies"))
    args = parser.parse_args()
    report = asyncio.run(run(args))
    write_report(report, markdown(report), Path(args.out))


if __name__ == "__main__":
    main()
