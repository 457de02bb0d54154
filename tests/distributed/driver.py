"""A bench driver run as its own process by the killed-driver test.

``python -m tests.distributed.driver DATASET DB LOG TEMP`` runs a self-consistency bench of
``DATASET`` on a local Ray cluster of its own (2 workers, one run at a time each, Ray's files
under ``TEMP``) with the scripted model of `tests.distributed.models` (200 ms per call, every
call logged to ``LOG``), the results stored in ``DB``; it prints the bench's id when done.
Run again with the same arguments, it resumes the bench from ``DB``.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

from ponder.distributed import RayExecutor
from ponder.eval import BenchConfig, run_bench
from tests.distributed.models import scripted

ROOT = Path(__file__).resolve().parents[2]
LATENCY = 0.2
BUDGET = 2000


def main(dataset: str, db: str, log: str, temp: str) -> None:
    """Run (or resume) the bench; print its id."""
    config = BenchConfig(dataset=dataset, strategies=("self-consistency",), budgets=(BUDGET,))
    executor = RayExecutor(
        workers=2, concurrency=1,
        init_options={
            "num_cpus": 2, "_temp_dir": temp,
            "runtime_env": {"env_vars": {"PYTHONPATH": str(ROOT)}},
        },
    )  # fmt: skip
    bench = run_bench(
        config, db=db, model=functools.partial(scripted, log, LATENCY), progress=False,
        executor=executor,
    )  # fmt: skip
    print(bench.bench_id, flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:5])
