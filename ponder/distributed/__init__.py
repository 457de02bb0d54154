"""Many problems at once: executors (this process, or a Ray cluster) and durable runs.

- `asolve_many` / `solve_many`: one strategy on many problems, results in problem order,
  on the local executor or on Ray (``executor="ray"``, the ``ray`` extra), every run
  written to one shared database when ``db=`` is given.
- `Executor`, `LocalExecutor`, `RayExecutor`, `make_executor`: where a job's runs go
  (`ponder bench --executor ray` uses them too).
- `arun_durable` / `run_durable`: a run persisted under a known id that can be asked for
  again safely: started, continued from its checkpoint after a crash, or read if it ended.
- `WORKER_POOL_SIZE`: the database connections each Ray worker's store holds at most on
  PostgreSQL (``pool_size=`` of `RayExecutor` and `solve_many`).

Nothing here imports Ray until a `RayExecutor` is made.

Example:
    >>> from ponder.testing import ScriptedChatModel
    >>> results = solve_many(
    ...     ["2 + 2?", "3 + 3?"], model=ScriptedChatModel(replies=["The answer is 4."]),
    ...     max_samples=2,
    ... )
    >>> [r.answer for r in results]
    ['4', '4']
"""

from ponder.distributed.durable import WORKER_POOL_SIZE, arun_durable, run_durable
from ponder.distributed.executor import (
    Executor,
    ExecutorName,
    Job,
    JobWorker,
    LocalExecutor,
)
from ponder.distributed.factory import make_executor
from ponder.distributed.many import asolve_many, solve_many
from ponder.distributed.ray_executor import RayExecutor

__all__ = (
    "WORKER_POOL_SIZE",
    "Executor",
    "ExecutorName",
    "Job",
    "JobWorker",
    "LocalExecutor",
    "RayExecutor",
    "arun_durable",
    "asolve_many",
    "make_executor",
    "run_durable",
    "solve_many",
)
