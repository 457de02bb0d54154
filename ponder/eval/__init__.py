"""Benchmarks: datasets, scorers, the resumable bench, its reports and its plot.

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
from ponder.eval.datasets import DATASETS, Dataset, Problem, ScorerName, load_dataset, load_jsonl
from ponder.eval.report import compare_markdown, compute_optimal, report_data, write_report
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
    "aload_bench",
    "arun_bench",
    "compare_markdown",
    "compute_optimal",
    "load_bench",
    "load_dataset",
    "load_jsonl",
    "report_data",
    "run_bench",
    "score",
    "write_report",
)
