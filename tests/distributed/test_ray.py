"""Benches and many-problem jobs on a local Ray cluster that the tests start (loopback only).

- a scripted bench on two Ray workers gives the results of the same bench in one process;
- a worker killed with SIGKILL mid-run: Ray restarts it, the retried runs continue from
  their checkpoints, the bench completes with the same results, and the calls made beyond
  those the runs' ledgers paid for are only the ones in flight at the kill;
- each worker opens the job with the executor's ``pool_size`` (its store's connection cap);
- `solve_many` on Ray returns the runs in problem order, and asking again reads them;
- the embedded model on two workers gives the results of one process (marked ``embedded``).
Each on SQLite and on the real PostgreSQL server (the ``db`` fixture).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

from ponder.distributed import RayExecutor, solve_many  # noqa: E402
from ponder.distributed.durable import WORKER_POOL_SIZE  # noqa: E402
from ponder.errors import ConfigurationError  # noqa: E402
from ponder.eval import BenchConfig, ProblemResult, run_bench  # noqa: E402
from tests.distributed.models import PoolJob, scripted  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PROBLEMS = 6


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    """A Ray cluster on this machine for the module's tests, stopped after them."""
    ray.init(
        num_cpus=3, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1",
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},
    )  # fmt: skip
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture
def dataset(tmp_path: Path) -> str:
    path = tmp_path / "sums.jsonl"
    path.write_text(
        "".join(
            json.dumps({"question": f"Problem {i:02d}: what is {i} + {5 - i}?", "answer": 5}) + "\n"
            for i in range(PROBLEMS)
        )
    )
    return str(path)


def _key(result: ProblemResult) -> tuple[str, int, int]:
    return (result.strategy, result.budget, result.problem_index)


def _outcome(results: list[ProblemResult]) -> dict[tuple[str, int, int], tuple[object, ...]]:
    return {
        _key(r): (r.status, r.answer, r.correct, r.pass_at_n, r.candidates, r.tokens, r.calls)
        for r in results
    }


def test_a_ray_bench_equals_the_bench_in_one_process(
    cluster: None, dataset: str, db: str, tmp_path: Path
) -> None:
    config = BenchConfig(
        dataset=dataset, strategies=("self-consistency", "best-of-n"), budgets=(300, 900)
    )
    here = run_bench(
        config, db=f"sqlite+aiosqlite:///{tmp_path / 'here.db'}", model=scripted(),
        progress=False,
    )  # fmt: skip
    there = run_bench(
        config, db=db, model=functools.partial(scripted), progress=False, executor="ray",
        workers=2,
    )  # fmt: skip
    assert there.bench_id == here.bench_id  # the same bench, wherever it ran
    assert len(there.results) == PROBLEMS * 4
    assert all(r.status == "done" and r.error is None for r in there.results)
    assert _outcome(there.results) == _outcome(here.results)
    # Asked again, the bench is complete: nothing runs, the results are the same.
    again = run_bench(
        config, db=db, model=functools.partial(scripted), progress=False, executor="ray",
        workers=2,
    )  # fmt: skip
    assert [(r.created_at, *_outcome([r]).values()) for r in again.results] == [
        (r.created_at, *_outcome([r]).values()) for r in there.results
    ]


def _calls(log: Path) -> list[tuple[int, str, int]]:
    if not log.exists():
        return []
    lines = [line.split("\t") for line in log.read_text().splitlines() if line.count("\t") == 2]
    return [(int(pid), problem, int(seed)) for pid, problem, seed in lines]


def test_a_killed_worker_is_retried_and_no_checkpointed_call_is_paid_again(
    cluster: None, dataset: str, db: str, tmp_path: Path
) -> None:
    config = BenchConfig(dataset=dataset, strategies=("self-consistency",), budgets=(2000,))
    reference = run_bench(
        config, db=f"sqlite+aiosqlite:///{tmp_path / 'here.db'}", model=scripted(),
        progress=False,
    )  # fmt: skip
    log = tmp_path / "calls.log"
    killed: dict[str, Any] = {}

    def kill_one_worker() -> None:
        """Once a worker has begun a run's third step, SIGKILL it.

        Self-consistency draws three samples in its first step, then one per step; a call
        is logged as it starts, so the fifth call of a run starts its third step.
        """
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            calls = _calls(log)
            per_run = Counter((pid, problem) for pid, problem, _ in calls)
            ready = [key for key, count in per_run.items() if count >= 5]
            if ready:
                pid, problem = ready[0]
                killed.update(pid=pid, problem=problem, before=len(calls))
                os.kill(pid, signal.SIGKILL)
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    try:
        executor = RayExecutor(workers=2, concurrency=1)
        bench = run_bench(
            config, db=db, model=functools.partial(scripted, str(log), 0.2), progress=False,
            executor=executor,
        )  # fmt: skip
    finally:
        killer.join()
    assert killed, "no worker was killed"
    assert killed["pid"] in executor.pids
    assert all(r.status == "done" and r.error is None for r in bench.results)
    assert _outcome(bench.results) == _outcome(reference.results)
    calls = _calls(log)
    assert killed["pid"] not in {pid for pid, _, _ in calls[int(killed["before"]) + 4 :]}
    # Every call made is in a run's ledger, except those made again after the kill: the
    # killed run's calls in flight (its step's samples), never one it had checkpointed.
    made = Counter((problem, seed) for _, problem, seed in calls)
    again = {key for key, count in made.items() if count > 1}
    assert sum(made.values()) - sum(r.calls for r in bench.results) == len(again)
    assert all(problem == killed["problem"] for problem, _ in again)
    first = [s for p, q, s in calls if (p, q) == (killed["pid"], killed["problem"])]
    assert len(again) < len(first), "the killed run started over instead of resuming"


def test_each_worker_opens_the_job_with_the_executors_pool_size(cluster: None) -> None:
    default = asyncio.run(RayExecutor(workers=2).amap(PoolJob(), list(range(4))))
    assert {pool for _, pool in default} == {WORKER_POOL_SIZE}
    capped = asyncio.run(RayExecutor(workers=2, pool_size=5).amap(PoolJob(), list(range(4))))
    assert {pool for _, pool in capped} == {5}
    assert len({pid for pid, _ in capped}) == 2  # both workers opened it so
    uncapped = asyncio.run(RayExecutor(workers=1, pool_size=None).amap(PoolJob(), [0]))
    assert uncapped[0][1] is None
    with pytest.raises(ConfigurationError, match="pool_size"):
        RayExecutor(pool_size=0)


def test_solve_many_on_ray_returns_the_runs_in_order(cluster: None, db: str) -> None:
    problems = [f"Problem {i:02d}: what is {i} + 1?" for i in range(5)]
    here = solve_many(problems, model=scripted(), max_samples=4)
    there = solve_many(
        problems, model=functools.partial(scripted), max_samples=4, executor="ray", db=db,
        workers=2,
    )  # fmt: skip
    assert [r.answer for r in there] == [r.answer for r in here]
    assert [r.usage.tokens for r in there] == [r.usage.tokens for r in here]
    assert all(r.run_id is not None for r in there)
    again = solve_many(
        problems, model=functools.partial(scripted), max_samples=4, executor="ray", db=db,
        workers=2,
    )  # fmt: skip
    assert [(r.run_id, r.answer) for r in again] == [(r.run_id, r.answer) for r in there]


@pytest.mark.embedded
def test_the_embedded_model_on_two_workers_equals_one_process(
    cluster: None, db: str, tmp_path: Path
) -> None:
    config = BenchConfig(
        dataset="arithmetic", strategies=("self-consistency",), budgets=(400,), limit=2
    )
    here = run_bench(config, db=f"sqlite+aiosqlite:///{tmp_path / 'here.db'}", progress=False)
    there = run_bench(config, db=db, progress=False, executor="ray", workers=2)
    assert there.bench_id == here.bench_id
    assert _outcome(there.results) == _outcome(here.results)
