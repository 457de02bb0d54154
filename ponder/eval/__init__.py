"""Benchmarks: datasets, scorers, the resumable bench, its reports and its plot.

Datasets split into held-in halves (`split_of`); reports compare every strategy with greedy
on the same problems (`paired_interval`).

Example:
    >>> from ponder.eval import DATASETS, load_dataset
    >>> "gsm8k" in DATASETS
    True
    >>> load_dataset("coin-flip", limit=1).problems[0].answer
    'yes'
"""

from ponder.eval.bench import (
    DEFAULT_BUDGETS,
    DEFAULT_STRATEGIES,
    STRATEGY_OPTIONS,
    Bench,
    BenchConfig,
    aload_bench,
    arun_bench,
    load_bench,
    run_bench,
)
from ponder.eval.datasets import (
    DATASETS,
    Dataset,
    Problem,
    ScorerName,
    Split,
    load_dataset,
    load_jsonl,
    split_of,
)
from ponder.eval.intervals import paired_interval
from ponder.eval.report import (
    against_greedy_markdown,
    compare_markdown,
    compute_optimal,
    report_data,
    write_report,
)
from ponder.eval.scorers import SCORERS, Scorer, score
from ponder.eval.store import BenchRecord, BenchStore, ProblemResult

__all__ = (
    "DATASETS",
    "DEFAULT_BUDGETS",
    "DEFAULT_STRATEGIES",
    "SCORERS",
    "STRATEGY_OPTIONS",
    "Bench",
    "BenchConfig",
    "BenchRecord",
    "BenchStore",
    "Dataset",
    "Problem",
    "ProblemResult",
    "Scorer",
    "ScorerName",
    "Split",
    "against_greedy_markdown",
    "aload_bench",
    "arun_bench",
    "compare_markdown",
    "compute_optimal",
    "load_bench",
    "load_dataset",
    "load_jsonl",
    "paired_interval",
    "report_data",
    "run_bench",
    "score",
    "split_of",
    "write_report",
)
