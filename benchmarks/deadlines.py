"""How closely a wall-time budget holds on the embedded model: solve time against the budget.

Each run solves a problem with a seconds budget only (no token limit), a verifier that
accepts nothing (so every run spends its time), and the model already loaded; the wall time
is measured around `ponder.asolve`, which includes the graph, the checkpoints and the final
selection. The overshoot is wall time minus budget. Cold: the engine's cache emptied before
each run (the few-shot prompt decoded again); warm: as a user's second run finds it.

Run:  flock /tmp/ponder-measure.lock .venv/bin/python benchmarks/deadlines.py [--repeats 5]
Writes benchmarks/results/deadlines.json and .md, and prints the table.
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

PROBLEM = "A farmer has 17 cows and buys 25 more. How many cows does he have now?"
BUDGETS = (0.5, 1.0, 2.0, 4.0)
STRATEGIES: dict[str, dict[str, Any]] = {
    "self-consistency": {"max_samples": 64, "agreement": 1.0},
    "best-of-n": {"n": 64, "per_step": 4},
}


async def measure(repeats: int) -> list[dict[str, Any]]:
    model = EmbeddedChatModel.from_name("smollm2")
    await ponder.asolve("2 + 2 =", model=model, budget=ponder.Budget(tokens=300))  # warm-up
    rows = []
    for strategy, options in STRATEGIES.items():
        for seconds in BUDGETS:
            for cache in ("cold", "warm"):
                walls = []
                for _ in range(repeats):
                    if cache == "cold":
                        model._batcher().clear_cache()
                    started = time.monotonic()
                    await ponder.asolve(
                        PROBLEM, strategy, model=model,  # type: ignore[arg-type]
                        budget=ponder.Budget(seconds=seconds),
                        verifier=ponder.ExpectedAnswer("no such answer"), **options,
                    )  # fmt: skip
                    walls.append(time.monotonic() - started)
                over = [w - seconds for w in walls]
                rows.append(
                    {
                        "strategy": strategy,
                        "budget_s": seconds,
                        "cache": cache,
                        "median_wall_s": statistics.median(walls),
                        "median_over_s": statistics.median(over),
                        "max_over_s": max(over),
                        "walls": walls,
                    }
                )
                print(
                    f"{strategy} {seconds:g} s {cache}: median {statistics.median(walls):.2f} s,"
                    f" worst overshoot {max(over):+.2f} s",
                    flush=True,
                )
    return rows


def table(report: dict[str, Any]) -> str:
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores; load average "
        f"{report['load_start']:.2f} at start, {report['load_end']:.2f} at end; "
        f"{report['repeats']} runs per cell.",
        "",
        "| strategy | budget s | cache | median wall s | median overshoot s | worst overshoot s |",
        "|---|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        lines.append(
            f"| {row['strategy']} | {row['budget_s']:g} | {row['cache']} | "
            f"{row['median_wall_s']:.2f} | {row['median_over_s']:+.2f} | "
            f"{row['max_over_s']:+.2f} |"
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
    write_report(report, table(report), RESULTS / "deadlines.md")


if __name__ == "__main__":
    main()
