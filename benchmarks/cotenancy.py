"""Co-tenancy benchmark: 1, 2 and 4 embedded-model processes at once on the same cores.

Every process runs the same fixed sampling workload on the embedded model (SmolLM2-135M,
llama.cpp, CPU, all cores each): ``--rounds`` calls of `generate_n` drawing ``--samples``
samples of a few-shot arithmetic prompt (temperature 0.7, seeds 0..N-1, output cap
``--max-tokens``), a different problem each round. The processes load the model and warm
it up first, then start together; the wall time runs from the start to the end of the last
process's work (not its exit), the aggregate throughput is every process's output tokens
over that wall time, and each process's own throughput is its tokens over its own time.

Two configurations take turns in one run (alternated, ``--repeats`` times; each cell is the
median): the machine-wide decode lock (``ponder.models._decode_lock``: processes take turns
per decode step) and ``PONDER_DECODE_LOCK=off`` (every process decodes whenever it likes, as
before the lock). The samples are seeded, so every process of every configuration generates
the same tokens: the table says so (one digest of the texts).

Run:  flock /tmp/ponder-measure.lock .venv/bin/python benchmarks/cotenancy.py
          [--repeats 3] [--processes 1,2,4] [--samples 4] [--rounds 4] [--max-tokens 64]
          [--sequential] [--quick]
Writes benchmarks/results/cotenancy.json (the markdown table under ``table``) and prints the
table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import RESULTS

PROBLEMS = [
    "A farmer has 17 cows and buys 25 more. How many cows does he have now?",
    "Tom reads 12 pages a day for 6 days. How many pages does he read?",
    "A box holds 48 apples. 19 are eaten. How many apples are left?",
    "There are 9 rows of 7 chairs. How many chairs are there?",
]
"""Round r uses problem r (mod 4): the same few-shot prefix, a different question."""

CONFIGS = {"lock": None, "off": "off"}
"""Configuration -> value of PONDER_DECODE_LOCK (``None``: unset, the default lock file)."""


def worker(samples: int, rounds: int, max_tokens: int, sequential: bool) -> None:
    """One process: load and warm up, say ``ready``, wait for ``go``, run, print the result."""
    from ponder.models import EmbeddedChatModel
    from ponder.prompts import FEW_SHOT

    model = EmbeddedChatModel.from_name("smollm2", batched=not sequential)
    model.generate_n("Name a fruit.", 1, seeds=[0], max_tokens=4)
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.monotonic()
    tokens = 0
    digest = hashlib.sha256()
    for r in range(rounds):
        messages = FEW_SHOT.render("chat", problem=PROBLEMS[r % len(PROBLEMS)])
        replies = model.generate_n(
            messages, samples, seeds=list(range(samples)), max_tokens=max_tokens,
            temperature=0.7,
        )  # fmt: skip
        for reply in replies:
            tokens += reply.usage_metadata["output_tokens"] if reply.usage_metadata else 0
            digest.update(reply.text.encode() + b"\0")
    ended = time.monotonic()
    report = {"tokens": tokens, "wall_s": ended - started, "ended": ended}
    print(json.dumps({**report, "digest": digest.hexdigest()[:12]}))


def run_once(count: int, config: str, args: argparse.Namespace) -> dict[str, Any]:
    """Start ``count`` workers under ``config``, release them together, collect results."""
    env = dict(os.environ)
    env.pop("PONDER_DECODE_LOCK", None)
    if CONFIGS[config] is not None:
        env["PONDER_DECODE_LOCK"] = str(CONFIGS[config])
    command = [
        sys.executable, str(Path(__file__).resolve()), "--worker",
        "--samples", str(args.samples), "--rounds", str(args.rounds),
        "--max-tokens", str(args.max_tokens),
    ] + (["--sequential"] if args.sequential else [])  # fmt: skip
    procs = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
        for _ in range(count)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdin is not None
        line = proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"a worker failed to start: {line!r}")
    started = time.monotonic()  # system-wide: the workers' clocks are the same
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"a worker failed with status {proc.returncode}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    wall = max(r["ended"] for r in results) - started  # not the exits: model teardown
    tokens = sum(r["tokens"] for r in results)
    rates = [r["tokens"] / r["wall_s"] for r in results]
    return {
        "wall_s": wall,
        "tokens": tokens,
        "aggregate_tokens_per_s": tokens / wall,
        "min_tokens_per_s": min(rates),
        "max_tokens_per_s": max(rates),
        "digests": sorted({r["digest"] for r in results}),
        "processes": results,
    }


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every (processes, configuration) cell, the configurations alternated per repeat."""
    counts = [int(n) for n in args.processes.split(",")]
    runs: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for repeat in range(args.repeats):
        for count in counts:
            # Alternate which configuration goes first, so neither always follows the other.
            order = list(CONFIGS) if repeat % 2 == 0 else list(reversed(CONFIGS))
            for config in order:
                run = run_once(count, config, args)
                runs.setdefault((count, config), []).append(run)
                print(
                    f"repeat {repeat}: {count} processes, {config}: {run['wall_s']:.2f} s, "
                    f"{run['aggregate_tokens_per_s']:.1f} tok/s "
                    f"(per process {run['min_tokens_per_s']:.1f}-"
                    f"{run['max_tokens_per_s']:.1f})",
                    file=sys.stderr,
                )
    rows = []
    for (count, config), cell in runs.items():
        rows.append(
            {
                "processes": count,
                "config": config,
                "wall_s": statistics.median(r["wall_s"] for r in cell),
                "tokens": statistics.median(r["tokens"] for r in cell),
                "aggregate_tokens_per_s": statistics.median(
                    r["aggregate_tokens_per_s"] for r in cell
                ),
                "min_tokens_per_s": statistics.median(r["min_tokens_per_s"] for r in cell),
                "max_tokens_per_s": statistics.median(r["max_tokens_per_s"] for r in cell),
                "digests": sorted({d for r in cell for d in r["digests"]}),
                "runs": cell,
            }
        )
    rows.sort(key=lambda row: (row["processes"], list(CONFIGS).index(row["config"])))
    for row in rows:
        alone = next(
            r for r in rows if r["processes"] == min(counts) and r["config"] == row["config"]
        )
        row["ratio"] = row["aggregate_tokens_per_s"] / alone["aggregate_tokens_per_s"]
    return rows


def table(report: dict[str, Any]) -> str:
    """The markdown table of a report."""
    labels = {"lock": "decode lock (default)", "off": "`PONDER_DECODE_LOCK=off`"}
    digests = sorted({d for row in report["rows"] for d in row["digests"]})
    path = "one sample at a time (`batched=False`)" if report["sequential"] else "batched"
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores; Python "
        f"{platform.python_version()}; llama-cpp-python {report['llama_cpp']}; every process "
        f"uses all cores; load average {report['load_start']:.2f} at start, "
        f"{report['load_end']:.2f} at end.",
        "",
        f"Each process: {report['rounds']} x {report['samples']} samples of a few-shot prompt "
        f"({path}), temperature 0.7, output cap {report['max_tokens']}; the processes start "
        f"together. Median of {report['repeats']} repeats, configurations alternated. "
        f"Ratio: aggregate output tokens/s over one process's, same configuration. Texts "
        f"of all processes and configurations: {len(digests)} digest(s) ({', '.join(digests)}).",
        "",
        "| processes | configuration | wall s | aggregate tok/s | ratio to one process | "
        "per-process tok/s (min-max) |",
        "|---|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        lines.append(
            f"| {row['processes']} | {labels[row['config']]} | {row['wall_s']:.2f} | "
            f"{row['aggregate_tokens_per_s']:.1f} | {row['ratio']:.2f}x | "
            f"{row['min_tokens_per_s']:.1f}-{row['max_tokens_per_s']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    """Parse the arguments; run a worker, or the whole benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--sequential", action="store_true", help="batched=False workers")
    parser.add_argument(
        "--quick", action="store_true", help="1 repeat, 1 and 2 processes, 2 rounds"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "cotenancy.json")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.samples, args.rounds, args.max_tokens, args.sequential)
        return
    if args.quick:
        args.repeats, args.processes, args.rounds = 1, "1,2", 2
    from importlib.metadata import version

    load_start = os.getloadavg()[0]
    rows = measure(args)
    report = {
        "llama_cpp": version("llama-cpp-python"),
        "load_start": load_start,
        "load_end": os.getloadavg()[0],
        "repeats": args.repeats,
        "samples": args.samples,
        "rounds": args.rounds,
        "max_tokens": args.max_tokens,
        "sequential": args.sequential,
        "rows": rows,
    }
    report["table"] = table(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(report["table"])


if __name__ == "__main__":
    main()
