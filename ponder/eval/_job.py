"""One bench's work as a job an executor runs: each item one (problem, strategy, budget).

`BenchJob` is plain data (the configuration, the dataset, the database URL, the model as a
spec, an object or a zero-argument factory), sent to every worker; `BenchJob.open` loads the
model once in the worker (wrapped for replay when it is the embedded one) and opens the
bench store; `BenchWorker.run` solves one item, scores it and stores its result, then
returns it to the driver for the progress line.

A durable job (``durable=True``, what every executor but the local one runs) persists each
run under an id derived from its item (`run_id_of`) with `ponder.distributed.arun_durable`:
a worker killed mid-run leaves the run checkpointed, and the retried item continues it
without paying again for a call whose result was checkpointed. Its runs end at their budget
with the answer they have, as the local executor's unpersisted runs do, so both give the
same results.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

from langchain_core.language_models import BaseChatModel

from ponder.api import asolve
from ponder.budget import Budget
from ponder.distributed.durable import arun_durable, open_worker_store, worker_engine_options
from ponder.distributed.executor import Job
from ponder.distributed.model_source import ModelSource, build_model
from ponder.eval._replay import ReplayingModel
from ponder.eval.datasets import Dataset, Problem, ScorerName
from ponder.eval.scorers import SCORERS, oracle_verifier, score, tests_verifier
from ponder.eval.store import BenchStore, ProblemResult
from ponder.graphs.registry import StrategyName, strategy_spec
from ponder.models.embedded import EmbeddedChatModel
from ponder.nodes.select import tally
from ponder.result import RunResult
from ponder.stores import Db
from ponder.verify.verifier import Verifier

__all__ = (
    "BenchJob",
    "BenchWorker",
    "Key",
    "replaying",
    "run_id_of",
    "strategy_options",
)

Key = tuple[int, str, int]
"""One item of a bench: (problem index, strategy, budget in tokens; 0 for greedy's reference
runs: one model call, no token limit)."""

_CODE_OPTIONS: dict[str, Any] = {"prompt": "code", "prompts": ("code",), "max_tokens": 320}
"""Options for code datasets, applied where a strategy has them."""


def strategy_options(strategy: str, scorer: ScorerName) -> dict[str, Any]:
    """Return the options a bench runs ``strategy`` with on a dataset scored by ``scorer``."""
    options = dict(strategy_spec(strategy).bench_options)
    if scorer == "code":
        known = {f.name for f in dataclasses.fields(strategy_spec(strategy).config_type)}
        options.update({k: v for k, v in _CODE_OPTIONS.items() if k in known})
    return options


def replaying(model: BaseChatModel, *, replay: bool) -> BaseChatModel:
    """Return ``model``, wrapped to replay repeated calls if it is the embedded one."""
    if replay and isinstance(model, EmbeddedChatModel) and not isinstance(model, ReplayingModel):
        return ReplayingModel.wrapping(model)
    return model


def run_id_of(bench_id: str, key: Key) -> str:
    """The id of a durable bench's run of ``key``."""
    index, strategy, budget = key
    return f"{bench_id}-{strategy}-{budget}-{index}"


def _verifier(strategy: str, problem: Problem) -> tuple[Verifier | None, str]:
    """The verifier a strategy gets on a problem, and its label (see `ponder.eval.bench`)."""
    if problem.tests is not None:
        return tests_verifier(problem), "tests"
    if strategy_spec(strategy).needs_verifier:
        return oracle_verifier(problem), "oracle"
    return None, "none"


def _difficulty(result: RunResult) -> float | None:
    """The adaptive strategy's difficulty estimate: the disagreement of its probe samples."""
    probes = [c for c in result.candidates if c["kind"] == "probe"]
    if not probes:
        return None
    votes = tally(probes)
    return 1.0 - max(votes.values()) / len(probes) if votes else 1.0


async def _pass_at_n(problem: Problem, result: RunResult, verifier: str) -> bool:
    """Whether any candidate's answer is right (each distinct answer is scored once)."""
    if verifier != "none" and any(c["verdict"] == "accepted" for c in result.candidates):
        return True
    answers = {
        c["answer"]
        for c in result.candidates
        if c["answer"] is not None and (verifier == "none" or c["verdict"] != "rejected")
    }
    for answer in sorted(answers):
        if await score(problem, answer):
            return True
    return False


@dataclass(frozen=True, kw_only=True, slots=True)
class BenchJob(Job[Key, ProblemResult]):
    """A bench's work, as every worker gets it."""

    bench_id: str
    """The bench."""
    dataset: Dataset
    """Its problems (sent along: a worker need not see the driver's files)."""
    seed: int
    """Base sampling seed of every run."""
    db: str
    """The shared database URL."""
    model: ModelSource
    """The model (see `ModelSource`)."""
    replay: bool = True
    """Replay the embedded model's repeated calls (`ponder.eval._replay`)."""
    durable: bool = False
    """Persist each run under `run_id_of` its item, to be continued if its worker dies."""
    pool_size: int | None = None
    """The most connections each store the job opens holds on PostgreSQL (no overflow) when
    the executor names none (the local one); ``None``: SQLAlchemy's default pool."""

    @contextlib.asynccontextmanager
    async def open(self, *, pool_size: int | None = None) -> AsyncIterator[BenchWorker]:
        """Load the model and open the stores, for this process's items.

        A durable job's runs share one run store of at most ``pool_size`` connections on
        PostgreSQL (the job's own `pool_size` when ``None``); the bench store then holds one
        (`ponder.distributed.durable.WORKER_POOL_SIZE`). A job that is not durable opens only
        the bench store, of at most ``pool_size`` connections.
        """
        size = self.pool_size if pool_size is None else pool_size
        model = replaying(build_model(self.model), replay=self.replay)
        async with contextlib.AsyncExitStack() as stack:
            runs = None
            if self.durable:
                runs = await stack.enter_async_context(open_worker_store(self.db, pool_size=size))
            results_size = size if not self.durable or size is None else 1
            options = worker_engine_options(self.db, results_size)
            store = await stack.enter_async_context(
                BenchStore.from_url(self.db, engine_options=options)
            )
            yield BenchWorker(job=self, model=model, store=store, runs=runs)


@dataclass(kw_only=True, slots=True)
class BenchWorker:
    """Runs a bench's items in one process."""

    job: BenchJob
    model: BaseChatModel
    store: BenchStore
    runs: Db | None = None
    """The run store a durable job's runs share (its URL when ``None``)."""

    async def run(self, key: Key) -> ProblemResult:
        """Solve, score and store one item; return its result."""
        result = await self.solve(key)
        await self.store.put_result(result)
        return result

    async def _run(self, key: Key, **kwargs: Any) -> RunResult:
        index, strategy, tokens = key
        problem = self.job.dataset.problems[index]
        # 0: greedy's reference run, one call with no token limit (ponder runs nothing unbounded)
        budget = Budget(tokens=tokens) if tokens else Budget(calls=1)
        if not self.job.durable:
            return await asolve(
                problem.question, cast(StrategyName, strategy), budget=budget,
                model=self.model, seed=self.job.seed, **kwargs,
            )  # fmt: skip
        return await arun_durable(
            problem.question, cast(StrategyName, strategy), db=self.runs or self.job.db,
            run_id=run_id_of(self.job.bench_id, key), model=self.model,
            budget=budget, seed=self.job.seed, pause_on_budget=False, **kwargs,
        )  # fmt: skip

    async def solve(self, key: Key) -> ProblemResult:
        """Solve and score one item (a failure is its result, not raised)."""
        index, strategy, budget = key
        problem = self.job.dataset.problems[index]
        verifier, label = _verifier(strategy, problem)
        charged = getattr(self.model, "charged_seconds", None)
        base: dict[str, Any] = {
            "bench_id": self.job.bench_id, "strategy": strategy, "budget": budget,
            "problem_index": index, "problem_id": problem.id, "level": problem.level,
            "verifier": label, "expected": problem.answer, "created_at": time.time(),
        }  # fmt: skip
        try:
            run = await self._run(
                key, verifier=verifier, extractor=SCORERS[problem.scorer].extract,
                **strategy_options(strategy, problem.scorer),
            )  # fmt: skip
        except Exception as exc:  # the bench's boundary: one problem's failure is its result
            return ProblemResult(
                **base, status="error", correct=False, pass_at_n=None, candidates=0,
                answer=None, tokens=0, calls=0, wall_seconds=0.0, flops=0.0, difficulty=None,
                error=f"{type(exc).__name__}: {exc}"[:1000],
            )  # fmt: skip
        wall = run.wall_seconds
        if isinstance(self.model, ReplayingModel) and charged is not None:
            wall = self.model.charged_seconds - charged + run.overhead_seconds
        errors = [run.error] if run.status == "failed" and run.error else []
        correct: bool | None
        try:
            correct = await score(problem, run.answer)
            pass_at_n: bool | None = await _pass_at_n(problem, run, label)
        except Exception as exc:  # a scorer that raises is recorded for this problem
            correct = pass_at_n = None
            errors.append(f"scorer raised {type(exc).__name__}: {exc}")
        return ProblemResult(
            **base, status=run.status, correct=correct, pass_at_n=pass_at_n,
            candidates=len(run.candidates), answer=run.answer, tokens=run.usage.tokens,
            calls=run.usage.calls, wall_seconds=wall, flops=run.flops,
            difficulty=_difficulty(run) if strategy == "adaptive" else None,
            error="; ".join(errors)[:1000] or None,
        )  # fmt: skip
