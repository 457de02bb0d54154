"""The ``ponder bench`` command: its arguments, and what it does with them.

- ``ponder bench --dataset NAME --strategies a,b --budgets 250,500 [--split tune|report]
  [--limit N] [--model M] [--seed S] [--db URL] [-o/--output DIR]``: run or resume a bench,
  write its report (markdown, JSON, plot) and print the markdown;
- ``--budgets 1x,2x,4x`` (mixable with token counts): multiples of greedy's mean tokens per
  problem; greedy runs first (added to the strategies if not named) and is the report's
  reference row;
- ``--dataset a,b,c``: one bench per dataset (each its own id, report and resume), each
  report in ``--output/<dataset>``, then every one against greedy in one table;
- ``ponder bench --dataset FILE.jsonl --question-field q --answer-field a``: a user's data;
- ``ponder bench ... --executor ray [--address ADDR] [--workers N]``: the runs on a Ray
  cluster (a local one for the bench when no address is given), every worker writing to
  ``--db`` (PostgreSQL, or SQLite on one machine); ``--concurrency`` is then per worker;
- ``--pool-size N`` (PostgreSQL ``--db``): the most connections each store holds, no
  overflow (the results store; on Ray each worker's run store, 2 by default);
- ``ponder bench --compare ID1 ID2 ...``: stored benches side by side;
- ``ponder bench --list``: the stored benches.

``--json`` prints data instead of text: the report's JSON (`ponder.eval.report.report_data`)
after a run, one such report per bench for ``--compare``, the stored benches for ``--list``.
``--list`` and ``--compare`` only read: they refuse a SQLite ``--db`` that does not exist,
and read one this user may not write read-only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, get_args

from ponder._options import add_json_flag, print_json, readable_db
from ponder.api import DEFAULT_DB
from ponder.errors import ConfigurationError
from ponder.eval.bench import (
    DEFAULT_BUDGETS,
    DEFAULT_STRATEGIES,
    Bench,
    BenchConfig,
    BudgetSpec,
    load_bench,
    parse_budget,
    run_bench,
)
from ponder.eval.datasets import DATASETS, ScorerName, Split
from ponder.eval.report import (
    against_greedy_markdown,
    compare_markdown,
    report_data,
    write_report,
)
from ponder.eval.store import BenchStore

__all__ = ("add_bench_parser", "bench_command")


def add_bench_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``bench`` subcommand to ``ponder``'s subparsers."""
    bench = commands.add_parser(
        "bench",
        help="evaluate strategies on a dataset at several budgets",
        description="Run strategies x budgets on a dataset, stored as it goes (run the same "
        "command again to resume), and write a markdown, JSON and PNG report. "
        f"Datasets: {', '.join(DATASETS)}, or a .jsonl file.",
    )
    bench.add_argument(
        "--dataset", "-d",
        help="a dataset name or a .jsonl file; several, comma-separated: one bench each",
    )  # fmt: skip
    bench.add_argument(
        "--strategies", "-s", default=",".join(DEFAULT_STRATEGIES), help="comma-separated"
    )
    bench.add_argument(
        "--budgets", "-b", default=",".join(map(str, DEFAULT_BUDGETS)),
        help="comma-separated budgets per problem: token counts, or multiples of greedy's "
        "mean tokens (1x,2x,4x: greedy runs first)",
    )  # fmt: skip
    bench.add_argument(
        "--split", choices=get_args(Split), default=None,
        help="only this held-in half of the dataset (by a hash of each question; default: all)",
    )  # fmt: skip
    bench.add_argument(
        "--limit", "-l", type=int, default=None, help="the first N problems (of the split)"
    )
    bench.add_argument("--model", "-m", default=None, help="a model spec (default smollm2)")
    bench.add_argument("--seed", type=int, default=0)
    bench.add_argument("--question-field", default="question", help="for a .jsonl dataset")
    bench.add_argument("--answer-field", default="answer", help="for a .jsonl dataset")
    bench.add_argument(
        "--scorer", choices=get_args(ScorerName), default=None,
        help="for a .jsonl dataset (default: number if every answer is one, else string)",
    )  # fmt: skip
    bench.add_argument("--id", default=None, help="the bench's id (default: from its settings)")
    bench.add_argument(
        "--concurrency", type=int, default=None,
        help="runs at once (per Ray worker) on a remote model (default 4; the embedded "
        "model runs one)",
    )  # fmt: skip
    bench.add_argument(
        "--executor", choices=("local", "ray"), default="local",
        help="where the runs go: this process, or a Ray cluster (pip install 'ponder[ray]')",
    )  # fmt: skip
    bench.add_argument(
        "--address", default=None,
        help="the Ray cluster (auto, HOST:PORT; default: a local cluster for the bench)",
    )  # fmt: skip
    bench.add_argument(
        "--workers", type=int, default=None,
        help="Ray workers, each loading the model once (default: one per CPU)",
    )  # fmt: skip
    bench.add_argument(
        "--pool-size", type=int, default=None, metavar="N",
        help="PostgreSQL --db only: the most connections each store holds, no overflow (the "
        "results store; on Ray, each worker's run store; default: SQLAlchemy's pool here, "
        "2 per Ray worker)",
    )  # fmt: skip
    bench.add_argument(
        "--no-replay", action="store_true",
        help="make every call of the embedded model, even one already made",
    )  # fmt: skip
    bench.add_argument(
        "--output", "--out", "-o", dest="out", default=None,
        help="report folder (default bench/ID)",
    )  # fmt: skip
    bench.add_argument("--no-plot", action="store_true", help="no PNG (no matplotlib needed)")
    bench.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    bench.add_argument("--compare", nargs="+", metavar="ID", help="show stored benches")
    bench.add_argument("--list", action="store_true", help="list the stored benches")
    bench.add_argument("--db", default=DEFAULT_DB, help=f"where results are kept ({DEFAULT_DB})")
    add_json_flag(bench, "the report (or the list, the comparison)")
    return bench  # type: ignore[no-any-return]


def _split(text: str, kind: str) -> list[str]:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise ConfigurationError(f"give at least one {kind}")
    return parts


def _budgets(text: str) -> tuple[BudgetSpec, ...]:
    return tuple(parse_budget(part) for part in _split(text, "budget"))


async def _records(db: str) -> list[dict[str, Any]]:
    async with BenchStore.from_url(db) as store:
        records = await store.list_benches()
    return [
        {"bench_id": r.bench_id, "created_at": r.created_at, "config": r.config} for r in records
    ]


def _list_lines(records: list[dict[str, Any]]) -> list[str]:
    lines = [f"{'bench':<14} {'dataset':<16} {'problems':>8}  {'strategies':<40} started"]
    for r in records:
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created_at"]))
        config = r["config"]
        strategies = ",".join(config["strategies"])
        lines.append(
            f"{r['bench_id']:<14} {str(config['dataset'])[:16]:<16} "
            f"{config['problems']:>8}  {strategies[:40]:<40} {started}"
        )
    return lines


def bench_command(args: argparse.Namespace) -> int:
    """Run ``ponder bench`` with parsed ``args``; returns the exit status."""
    if args.list:
        from ponder._sync import run_sync

        records = run_sync(_records(readable_db(args.db)), name="bench")
        if args.json:
            print_json(records)
        else:
            print("\n".join(_list_lines(records)))
        return 0
    if args.compare:
        if len(args.compare) < 2:
            raise ConfigurationError("--compare needs two or more bench ids (ponder bench --list)")
        db = readable_db(args.db)
        benches = [load_bench(bench_id, db=db) for bench_id in args.compare]
        if args.json:
            print_json([report_data(bench) for bench in benches])
        else:
            print(compare_markdown(benches))
        return 0
    if not args.dataset:
        raise ConfigurationError(
            f"name a dataset with --dataset ({', '.join(DATASETS)}, or a .jsonl file)"
        )
    if args.pool_size is not None and args.pool_size < 1:
        raise ConfigurationError(
            f"--pool-size must be a positive whole number of connections, got {args.pool_size}"
        )
    datasets = _split(args.dataset, "dataset")
    if len(datasets) > 1 and args.id is not None:
        raise ConfigurationError("--id names one bench: give one --dataset with it")
    configs = [
        BenchConfig(
            dataset=dataset,
            strategies=tuple(_split(args.strategies, "strategy")),
            budgets=_budgets(args.budgets),
            split=args.split,
            limit=args.limit,
            model=args.model,
            seed=args.seed,
            question_field=args.question_field,
            answer_field=args.answer_field,
            scorer=args.scorer,
        )  # fmt: skip
        for dataset in datasets
    ]
    benches = [_run_one(args, config, several=len(configs) > 1) for config in configs]
    if args.json:
        data = [report_data(bench) for bench in benches]
        print_json(data[0] if len(data) == 1 else data)
    elif len(benches) == 1:
        print(Path(_out(args, benches[0], several=False), "report.md").read_text())
    else:
        print(against_greedy_markdown(benches) or compare_markdown(benches), end="")
    return 0


def _out(args: argparse.Namespace, bench: Bench, *, several: bool) -> str:
    """Where a bench's report goes: ``--output`` (a folder per dataset), else bench/ID."""
    if args.out is None:
        return f"bench/{bench.bench_id}"
    if not several:
        return str(args.out)
    name = Path(str(bench.config["dataset"])).name.removesuffix(".gz").removesuffix(".jsonl")
    return str(Path(args.out) / name)


def _run_one(args: argparse.Namespace, config: BenchConfig, *, several: bool) -> Bench:
    """Run (or resume) one bench and write its report; return it."""
    bench = run_bench(
        config, db=args.db, bench_id=args.id, concurrency=args.concurrency,
        replay=not args.no_replay, progress=not args.quiet, executor=args.executor,
        address=args.address, workers=args.workers, pool_size=args.pool_size,
    )  # fmt: skip
    out = _out(args, bench, several=several)
    try:
        paths = write_report(bench, out, plot=not args.no_plot)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot write the report to {out}: {exc.strerror or exc}; pick another folder "
            "with -o (the results are stored: the same command writes it again)"
        ) from exc
    print("wrote " + ", ".join(str(p) for p in paths.values()), file=sys.stderr)
    return bench
