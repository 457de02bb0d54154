"""`solve_many` and `asolve_many`: one strategy on many problems, here or on a Ray cluster.

Each problem is one run of `ponder.asolve`, with the same strategy, budget, seed and
options; the results come back in problem order. With ``db=`` every run is persisted there
under the id ``<job_id>-<index>`` (the job id is derived from the call's settings, or given),
so calling again with the same arguments continues the job: runs that ended are read from
the store, runs that were interrupted (a worker or the driver killed) continue from their
last checkpoint, and only the rest start. A run persisted this way pauses when its budget
runs out, as with `ponder.asolve`; resume it with `ponder.runs.aresume`.

``executor="ray"`` sends the runs to Ray workers (each loading the model once) and needs
``db=``: the workers write to that one database (PostgreSQL, or SQLite on one machine).

Example:
    >>> from ponder.testing import ScriptedChatModel
    >>> model = ScriptedChatModel(replies=["The answer is 4."])
    >>> [r.answer for r in solve_many(["2 + 2?", "1 + 3?"], model=model, max_samples=2)]
    ['4', '4']
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO, cast

from langchain_core.language_models import BaseChatModel

from ponder._sync import run_sync
from ponder.api import DEFAULT_BUDGET, asolve
from ponder.budget import Budget
from ponder.distributed.durable import WORKER_POOL_SIZE, arun_durable, open_worker_store
from ponder.distributed.executor import Executor, ExecutorName, Job, LocalExecutor
from ponder.distributed.factory import make_executor
from ponder.distributed.model_source import ModelSource, build_model, model_label
from ponder.errors import ConfigurationError
from ponder.graphs.registry import StrategyName, make_config, strategy_spec
from ponder.models.embedded import EmbeddedChatModel
from ponder.result import RunResult
from ponder.stores import Db
from ponder.verify.extract import Extractor
from ponder.verify.verifier import Verifier

__all__ = ("SolveJob", "asolve_many", "solve_many")

_REMOTE_CONCURRENCY = 4
"""Runs in flight at once (per worker) on a model other than the embedded one."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SolveJob(Job[int, RunResult]):
    """The runs of one `asolve_many` call, as every worker gets them; items are indexes."""

    job_id: str
    """The job's id: run ``i`` is ``<job_id>-<i>`` in ``db``."""
    problems: tuple[str, ...]
    """The questions."""
    strategy: StrategyName
    """The strategy of every run."""
    options: Mapping[str, Any]
    """Its options."""
    model: ModelSource
    """The model (see `ponder.eval._job.ModelSource`)."""
    budget: Mapping[str, Any]
    """Every run's limits (`Budget.to_limits`)."""
    verifiers: tuple[Verifier | None, ...]
    """Each problem's verifier."""
    extractor: Extractor | None
    """The answer extractor."""
    seed: int
    """Base sampling seed."""
    call_timeout: float | None
    """Seconds one model call may take."""
    db: str | None
    """Where the runs are persisted (``None``: not persisted, local only)."""

    @contextlib.asynccontextmanager
    async def open(self, *, pool_size: int | None = None) -> AsyncIterator[_SolveWorker]:
        """Load the model once for this process's runs, and open the store they share."""
        model = build_model(self.model)
        if self.db is None:
            yield _SolveWorker(job=self, model=model, store=None)
            return
        async with open_worker_store(self.db, pool_size=pool_size) as store:
            yield _SolveWorker(job=self, model=model, store=store)


@dataclass(kw_only=True, slots=True)
class _SolveWorker:
    job: SolveJob
    model: BaseChatModel
    store: Db | None

    async def run(self, index: int) -> RunResult:
        job = self.job
        settings: dict[str, Any] = {
            "budget": job.budget, "model": self.model, "verifier": job.verifiers[index],
            "extractor": job.extractor, "seed": job.seed, "call_timeout": job.call_timeout,
        }  # fmt: skip
        if self.store is None:
            return await asolve(job.problems[index], job.strategy, **settings, **job.options)
        return await arun_durable(
            job.problems[index], job.strategy, db=self.store, run_id=f"{job.job_id}-{index}",
            **settings, **job.options,
        )  # fmt: skip


class _Progress:
    """One line on the driver for the whole job: runs done, tokens, time."""

    def __init__(self, job_id: str, total: int, stream: TextIO | None) -> None:
        self.job_id, self.total, self.stream = job_id, total, stream
        self.done = self.tokens = 0
        self.started = time.monotonic()
        isatty = getattr(stream, "isatty", None)
        self.end = "\r" if isatty and isatty() else "\n"

    def add(self, _index: int, result: RunResult) -> None:
        self.done += 1
        self.tokens += result.usage.tokens
        if self.stream is None:
            return
        every = max(1, self.total // 10)
        if self.end == "\r" or self.done % every == 0 or self.done == self.total:
            elapsed = time.monotonic() - self.started
            self.stream.write(
                f"{self.end if self.end == chr(13) else ''}solve_many {self.job_id} "
                f"{self.done}/{self.total} runs, {self.tokens} tokens, {elapsed:.1f} s"
                f"{'' if self.end == chr(13) else chr(10)}"
            )
            self.stream.flush()

    def close(self) -> None:
        if self.stream is not None and self.end == "\r":
            self.stream.write("\n")
            self.stream.flush()


def _verifiers(
    verifier: Verifier | Sequence[Verifier | None] | None, count: int
) -> tuple[Any, ...]:
    if verifier is None or callable(verifier):
        return (verifier,) * count
    verifiers = tuple(verifier)
    if len(verifiers) != count:
        raise ConfigurationError(
            f"give one verifier for all problems or one per problem ({count}), got {len(verifiers)}"
        )
    return verifiers


def _job_id(problems: Sequence[str], strategy: str, data: Mapping[str, Any]) -> str:
    text = json.dumps({"problems": list(problems), "strategy": strategy, **data}, sort_keys=True)
    return "many-" + hashlib.sha256(text.encode()).hexdigest()[:12]


async def asolve_many(
    problems: Sequence[str],
    strategy: StrategyName = "self-consistency",
    *,
    executor: ExecutorName | Executor = "local",
    db: str | None = None,
    model: ModelSource = None,
    budget: Budget | Mapping[str, Any] | None = None,
    verifier: Verifier | Sequence[Verifier | None] | None = None,
    extractor: Extractor | None = None,
    seed: int = 0,
    call_timeout: float | None = 300.0,
    job_id: str | None = None,
    concurrency: int | None = None,
    address: str | None = None,
    workers: int | None = None,
    pool_size: int | None = WORKER_POOL_SIZE,
    progress: bool | TextIO = False,
    **options: Any,
) -> list[RunResult]:
    """Solve every problem with ``strategy`` and return the results in problem order.

    Args:
        problems: The questions.
        strategy: The strategy of every run.
        executor: ``"local"`` (this process), ``"ray"`` (a Ray cluster; needs ``db``), or
            an `Executor`.
        db: Persist every run there (see the module docstring); ``None``: no persistence.
        model: A chat model, a zero-argument function returning one (what a Ray job needs
            for a model object that does not pickle), a spec, or ``None`` (embedded).
        budget: Each run's limits (`ponder.DEFAULT_BUDGET` when ``None``).
        verifier: One verifier for every problem, or one per problem (``None`` allowed).
        extractor: The answer extractor.
        seed: Base sampling seed of every run.
        call_timeout: Seconds one model call may take.
        job_id: The job's id (derived from the call's settings when ``None``).
        concurrency: Runs in flight at once (per worker on Ray); one on the embedded model,
            four on another by default.
        address: The Ray cluster's address (a local one for the job when ``None``).
        workers: Ray workers (one per CPU of the cluster when ``None``).
        pool_size: Database connections each Ray worker's store holds at most, shared by
            its runs in flight (`ponder.distributed.durable.WORKER_POOL_SIZE`); ``None``:
            SQLAlchemy's default pool.
        progress: One progress line for the whole job on stderr (``True``) or a stream.
        **options: The strategy's options (plain data when ``db`` is given).

    Raises:
        ConfigurationError: Bad settings; ``ray`` without ``db`` or without the extra; a
            verifier sequence of the wrong length; an empty problem.
    """
    problems = tuple(problems)
    for problem in problems:
        if not isinstance(problem, str) or not problem.strip():
            raise ConfigurationError("every problem must be a non-empty question as text")
    spec = strategy_spec(strategy)
    make_config(spec, options)
    limits = (DEFAULT_BUDGET if budget is None else Budget.from_limits(budget)).to_limits()
    verifiers = _verifiers(verifier, len(problems))
    local = executor == "local" or isinstance(executor, LocalExecutor)
    if not local and db is None:
        raise ConfigurationError(
            "a Ray job's workers write their runs to one shared database: pass db=... "
            "(postgresql+asyncpg://..., or a SQLite file on a one-machine cluster)"
        )
    built = build_model(model)  # the embedded model loads on its first call, not here
    limit = 1 if isinstance(built, EmbeddedChatModel) else (concurrency or _REMOTE_CONCURRENCY)
    runner = make_executor(
        executor, concurrency=limit, address=address, workers=workers, pool_size=pool_size
    )
    job_id = job_id or _job_id(
        problems, spec.name,
        {"options": options, "budget": limits, "seed": seed, "model": model_label(built)},
    )  # fmt: skip
    job = SolveJob(
        job_id=job_id, problems=problems, strategy=cast(StrategyName, spec.name),
        options=dict(options), model=built if local else model, budget=limits, verifiers=verifiers,
        extractor=extractor, seed=seed, call_timeout=call_timeout, db=db,
    )  # fmt: skip
    meter = _Progress(job_id, len(problems), sys.stderr if progress is True else progress or None)
    try:
        return await runner.amap(job, list(range(len(problems))), on_result=meter.add)
    finally:
        meter.close()


def solve_many(
    problems: Sequence[str],
    strategy: StrategyName = "self-consistency",
    *,
    executor: ExecutorName | Executor = "local",
    db: str | None = None,
    model: ModelSource = None,
    budget: Budget | Mapping[str, Any] | None = None,
    verifier: Verifier | Sequence[Verifier | None] | None = None,
    extractor: Extractor | None = None,
    seed: int = 0,
    call_timeout: float | None = 300.0,
    job_id: str | None = None,
    concurrency: int | None = None,
    address: str | None = None,
    workers: int | None = None,
    pool_size: int | None = WORKER_POOL_SIZE,
    progress: bool | TextIO = False,
    **options: Any,
) -> list[RunResult]:
    """Solve every problem: the sync twin of `asolve_many`, with the same arguments.

    Example:
        >>> import ponder
        >>> results = ponder.solve_many(  # doctest: +SKIP
        ...     ["What is 2 + 2?", "What is 17 + 25?"], executor="ray", workers=2,
        ...     db="postgresql+asyncpg://postgres@127.0.0.1/ponder",
        ... )
    """
    return run_sync(
        asolve_many(
            problems, strategy, executor=executor, db=db, model=model, budget=budget,
            verifier=verifier, extractor=extractor, seed=seed, call_timeout=call_timeout,
            job_id=job_id, concurrency=concurrency, address=address, workers=workers,
            pool_size=pool_size, progress=progress, **options,
        ),
        name="solve_many",
    )  # fmt: skip
