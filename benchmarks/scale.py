"""Scale-out on Ray: a 200-problem bench on 1, 2 and 4 workers sharing one PostgreSQL store.

The model is scripted with a fixed latency (200 ms per call, an async sleep), so the figure
measures ponder (graph steps, checkpoints, the registry, the driver) and not the CPU of a
model. Each problem is a self-consistency run (the bench's options) whose samples disagree
(3 samples, then one per step) until its 1,500-token budget ends it; the calls per run are in
the table. Each worker runs 4 problems at once. Efficiency is the rate on N workers over
N times the rate on one (1.0 is linear).

Then the embedded model (SmolLM2, llama.cpp, on this machine's CPUs) on 2 workers against
one process, on a few problems: here the CPU is the limit, so this says what a second
process per machine costs or gains, not how a cluster scales. The workers run it twice: with
llama.cpp's default threads (every CPU, in each process) and with one thread each.

The write volume of one run (rows and bytes per table, inserts and updates) is read from
PostgreSQL after the 1-worker bench, for the sizing notes in the README ("Scaling out").

Run: ``flock /tmp/ponder-measure.lock python benchmarks/scale.py`` (the embedded part needs
the lock; ``--no-embedded`` skips it and keeps the embedded results already in scale.json).
``--embedded --problems 20`` runs only the embedded comparison, on 20 problems, and keeps
the scripted results already in scale.json. Writes benchmarks/results/scale.{md,json}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import ray
from langchain_core.messages import BaseMessage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import RESULTS, write_report  # noqa: E402
from ponder.distributed import RayExecutor  # noqa: E402
from ponder.eval import BenchConfig, run_bench  # noqa: E402
from ponder.models import EmbeddedChatModel  # noqa: E402
from ponder.testing import ScriptedChatModel  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PG = "postgresql://postgres@127.0.0.1:5432/test"
LATENCY = 0.2
PROBLEMS = 200
PER_WORKER = 4
BUDGET = 1500
"""Tokens per run: the budget ends each vote (the bench's self-consistency options)."""


def latency_model() -> ScriptedChatModel:
    """Answers that vary with the seed (so the vote takes steps); 200 ms per call."""

    def reply(messages: list[BaseMessage], options: dict[str, Any]) -> str:
        seed = int(options.get("seed") or 0)
        return f"Adding the numbers one by one. The answer is {seed % 3 + 4}."

    return ScriptedChatModel(reply_fn=reply, delay=LATENCY)


def dataset(folder: Path, count: int) -> str:
    path = folder / f"sums{count}.jsonl"
    lines = (
        json.dumps({"question": f"Problem {i}: what is {i} + {5}?", "answer": i + 5})
        for i in range(count)
    )
    path.write_text("\n".join(lines) + "\n")
    return str(path)


async def _sql(query: str, *args: Any) -> list[Any]:
    conn = await asyncpg.connect(PG)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


def sql(query: str, *args: Any) -> list[Any]:
    return asyncio.run(_sql(query, *args))


def write_volume(schema: str, runs: int) -> dict[str, dict[str, float]]:
    """Rows, bytes, inserts, updates and deletes per run in each table of ``schema``."""
    time.sleep(1.5)  # table statistics are flushed about once a second
    stats = sql(
        "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables "
        "WHERE schemaname = $1",
        schema,
    )
    volume: dict[str, dict[str, float]] = {}
    for row in stats:
        table = row["relname"]
        sized = sql(
            f"SELECT count(*) AS n, coalesce(sum(pg_column_size(t.*)), 0) AS b "
            f'FROM "{schema}"."{table}" t'
        )[0]
        volume[table] = {
            "rows_per_run": sized["n"] / runs,
            "bytes_per_run": float(sized["b"]) / runs,
            "inserts_per_run": row["n_tup_ins"] / runs,
            "updates_per_run": row["n_tup_upd"] / runs,
            "deletes_per_run": row["n_tup_del"] / runs,
        }
    return volume


def scripted_bench(path: str, workers: int) -> dict[str, Any]:
    schema = f"ponder_scale_{uuid.uuid4().hex[:10]}"
    db = f"postgresql+asyncpg://postgres@127.0.0.1:5432/test?schema={schema}"
    config = BenchConfig(dataset=path, strategies=("self-consistency",), budgets=(BUDGET,))
    executor = RayExecutor(workers=workers, concurrency=PER_WORKER)
    started = time.perf_counter()
    bench = run_bench(config, db=db, model=latency_model, executor=executor, progress=False)
    elapsed = time.perf_counter() - started
    created = sorted(r.created_at for r in bench.results)
    steady = (len(created) - 1) / (created[-1] - created[0])
    failed = sum(r.status != "done" for r in bench.results)
    calls = sum(r.calls for r in bench.results)
    report = {
        "workers": workers,
        "problems": len(bench.results),
        "failed": failed,
        "calls_per_run": calls / len(bench.results),
        "job_seconds": elapsed,
        "problems_per_s": len(bench.results) / elapsed,
        "steady_problems_per_s": steady,
        "schema": schema,
    }
    return report


EMBEDDED_BUDGET = 600
"""Tokens per run of the embedded comparison (self-consistency on the arithmetic set)."""


def embedded_bench(
    workers: int | None, limit: int, *, threads: int | None = None
) -> dict[str, Any]:
    """The embedded model's bench on one process (``workers=None``) or on Ray workers.

    ``threads``: llama.cpp threads per process (its default: every CPU this process may use).
    The model loads in each process on its first call: inside the measured time.
    """
    db_file = Path(tempfile.mkdtemp()) / "embedded.db"
    config = BenchConfig(
        dataset="arithmetic", strategies=("self-consistency",), budgets=(EMBEDDED_BUDGET,),
        limit=limit,
    )  # fmt: skip
    model = None if threads is None else partial(EmbeddedChatModel.from_name, n_threads=threads)
    executor = "local" if workers is None else RayExecutor(workers=workers)
    started = time.perf_counter()
    bench = run_bench(
        config, db=f"sqlite+aiosqlite:///{db_file}", model=model, progress=False,
        executor=executor,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    created = sorted(r.created_at for r in bench.results)
    return {
        "workers": workers or 0,
        "threads_per_process": threads,  # None: llama.cpp's default here, every CPU
        "problems": len(bench.results),
        "seconds": elapsed,
        "problems_per_s": len(bench.results) / elapsed,
        "steady_problems_per_s": (
            (len(created) - 1) / (created[-1] - created[0]) if len(created) > 1 else None
        ),
        "failed": sum(r.status != "done" for r in bench.results),
        "correct": sum(bool(r.correct) for r in bench.results),
        "answers": [r.answer for r in bench.results],
    }


def embedded_comparison(limit: int) -> dict[str, Any]:
    """One process against 2 Ray workers (llama.cpp's default threads, then 1 thread each)."""
    rows = [
        embedded_bench(None, limit),
        embedded_bench(2, limit),
        embedded_bench(2, limit, threads=1),
    ]
    one = rows[0]
    for row in rows:
        row["ratio"] = row["problems_per_s"] / one["problems_per_s"]
        row["same_answers"] = row["answers"] == one["answers"]
    return {
        "dataset": "arithmetic",
        "strategy": "self-consistency",
        "budget_tokens": EMBEDDED_BUDGET,
        "problems": limit,
        "rows": rows,
    }


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def render(report: dict[str, Any]) -> str:
    """The markdown of a report (the scripted scaling, the write volume, the embedded part)."""
    scaling = report["scaling"]
    base = scaling[0]
    lines = [
        f"# Scale-out on Ray ({base['problems']} problems, scripted model, "
        f"{report['latency_seconds'] * 1000:.0f} ms per call, "
        f"{report['runs_in_flight_per_worker']} runs in flight per worker, one PostgreSQL "
        f"store, {report['machine']['cpus']} CPUs)",
        "",
        "| workers | job s | problems/s | efficiency | steady problems/s | steady efficiency |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in scaling:
        lines.append(
            f"| {row['workers']} | {row['job_seconds']:.1f} | {row['problems_per_s']:.2f} | "
            f"{row['efficiency']:.2f} | {row['steady_problems_per_s']:.2f} | "
            f"{row['steady_efficiency']:.2f} |"
        )
    lines += [
        "",
        "Job s: from the call to the last result, workers' start included; steady: between "
        "the first and the last stored result. "
        f"{base['calls_per_run']:.1f} model calls per run.",
        "",
        "## Write volume of one run (PostgreSQL, 1-worker bench)",
        "",
        "| table | rows | bytes | inserts | updates | deletes |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for table, v in sorted(report["write_volume_per_run"].items()):
        lines.append(
            f"| {table} | {v['rows_per_run']:.1f} | {v['bytes_per_run']:.0f} | "
            f"{v['inserts_per_run']:.1f} | {v['updates_per_run']:.1f} | "
            f"{v['deletes_per_run']:.1f} |"
        )
    embedded = report.get("embedded")
    if embedded:
        lines += [
            "",
            f"## Embedded model (SmolLM2, llama.cpp), {embedded['problems']} problems",
            "",
            f"{embedded['strategy']} on the {embedded['dataset']} set, "
            f"{embedded['budget_tokens']} tokens per run, one run at a time per process, "
            f"SQLite store, {report['machine']['cpus']} CPUs; each process loads the model "
            "(inside the time).",
            "",
            "| where | llama.cpp threads per process | seconds | problems/s | ratio | "
            "steady problems/s | correct | same answers |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for row in embedded["rows"]:
            where = "one process" if row["workers"] == 0 else f"{row['workers']} Ray workers"
            lines.append(
                f"| {where} | {row['threads_per_process'] or 'all'} | {row['seconds']:.1f} | "
                f"{row['problems_per_s']:.3f} | {row['ratio']:.2f} | "
                f"{_rate(row['steady_problems_per_s'])} | {row['correct']}/{row['problems']} | "
                f"{'yes' if row['same_answers'] else 'no'} |"
            )
        lines += ["", "Ratio: problems/s over one process's."]
    return "\n".join(lines) + "\n"


def start_ray() -> None:
    ray.init(
        num_cpus=4, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1",
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--problems", type=int, default=None,
        help=f"problems of the scripted bench ({PROBLEMS}), or with --embedded of the "
        "embedded one (20)",
    )  # fmt: skip
    parser.add_argument("--embedded-problems", type=int, default=6)
    parser.add_argument(
        "--no-embedded", action="store_true",
        help="only the scripted bench; the embedded results already in scale.json are kept",
    )  # fmt: skip
    parser.add_argument(
        "--embedded", action="store_true",
        help="only the embedded model, one process against 2 Ray workers; the scripted "
        "results already in scale.json are kept",
    )  # fmt: skip
    args = parser.parse_args()
    if args.embedded:
        report = json.loads((RESULTS / "scale.json").read_text())
        start_ray()
        try:
            report["embedded"] = embedded_comparison(args.problems or 20)
        finally:
            ray.shutdown()
        for row in report["embedded"]["rows"]:
            print(
                f"workers={row['workers']} threads={row['threads_per_process'] or 'all'}: "
                f"{row['problems_per_s']:.3f} problems/s, ratio {row['ratio']:.2f}"
            )
        write_report(report, render(report), RESULTS / "scale")
        return
    problems = args.problems or PROBLEMS
    folder = Path(tempfile.mkdtemp())
    path = dataset(folder, problems)
    start_ray()
    try:
        scaling = [scripted_bench(path, workers) for workers in (1, 2, 4)]
        base = scaling[0]
        for row in scaling:
            row["efficiency"] = row["problems_per_s"] / (row["workers"] * base["problems_per_s"])
            row["steady_efficiency"] = row["steady_problems_per_s"] / (
                row["workers"] * base["steady_problems_per_s"]
            )
        volume = write_volume(base["schema"], base["problems"])
        if args.no_embedded:  # keep the embedded comparison already stored
            stored = RESULTS / "scale.json"
            embedded = json.loads(stored.read_text()).get("embedded") if stored.exists() else None
        else:
            embedded = embedded_comparison(args.embedded_problems)
    finally:
        ray.shutdown()
    for row in scaling:
        sql(f'DROP SCHEMA IF EXISTS "{row.pop("schema")}" CASCADE')
    report = {
        "machine": {"cpus": os.cpu_count()},
        "latency_seconds": LATENCY,
        "runs_in_flight_per_worker": PER_WORKER,
        "budget_tokens": BUDGET,
        "scaling": scaling,
        "write_volume_per_run": volume,
        "embedded": embedded,
    }
    write_report(report, render(report), RESULTS / "scale")


if __name__ == "__main__":
    main()
