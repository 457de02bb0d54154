"""A durable run: started under a known id, resumed if it was interrupted, read if it ended.

`arun_durable` is what a worker of a many-problem job runs for one problem. The run is
persisted under an id the job derives from the problem (so the same job asks for the same
ids again), and whatever happened to an earlier attempt, calling it again is safe:

- no run of that id yet: it starts, checkpointed after every step;
- the run is recorded ``running`` (its process died: a worker killed, a driver gone): it
  continues from its last checkpoint, as `ponder.runs.aresume` continues a killed run, so no
  model call whose result was checkpointed is made again; a lease still held by a live
  process (or by a dead one on another machine, until it goes stale) is waited for;
- the run ended (done, failed or paused): nothing runs; its result is read from its last
  checkpoint.

A worker's runs share one store: `open_worker_store` opens it once per worker process, its
connection pool on PostgreSQL capped (`WORKER_POOL_SIZE`, no overflow) so that many workers
stay within what one server serves, and ``db=`` takes the opened store as well as a URL.

It differs from `ponder.runs.aresume` in one setting: ``pause_on_budget``. A bench run ends
at its budget with the answer it has (as an unpersisted run does), where a run of
`ponder.asolve` with ``db=`` pauses for a top-up; both are offered.

Example:
    >>> from ponder.testing import ScriptedChatModel
    >>> result = run_durable(  # doctest: +SKIP
    ...     "2 + 2?", "self-consistency", db="sqlite+aiosqlite:///runs.db", run_id="job-0",
    ...     model=ScriptedChatModel(replies=["The answer is 4."]), max_samples=3,
    ... )
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel

from ponder._sync import run_sync
from ponder.api import DEFAULT_BUDGET
from ponder.budget import Budget
from ponder.errors import ConfigurationError, RunBusy
from ponder.graphs.registry import StrategyName, StrategySpec, make_config, strategy_spec
from ponder.persistence.leases import RENEW_SECONDS, STALE_SECONDS
from ponder.persistence.savers import is_saver_url
from ponder.persistence.sqlalchemy import SqlCheckpointer
from ponder.persistence.url import parse_db_url
from ponder.result import RunResult
from ponder.runner import result_from
from ponder.setup import (
    Db,
    check_state,
    check_verifier,
    get_record,
    make_context,
    open_store,
    pause_reason,
    persisted_graph,
    run_persisted,
    start_run,
    thread_config,
)
from ponder.verify.extract import Extractor
from ponder.verify.verifier import Verifier

__all__ = (
    "BUSY_WAIT_SECONDS",
    "WORKER_POOL_SIZE",
    "arun_durable",
    "open_worker_store",
    "pool_options",
    "run_durable",
    "worker_engine_options",
)

WORKER_POOL_SIZE = 2
"""Database connections a Ray worker's run store holds at most on PostgreSQL (no overflow),
whatever the number of runs in flight in the worker: they queue for a connection, held only
for a statement or a transaction, never across a model call. A bench worker holds one more,
for its results table. ``workers x (WORKER_POOL_SIZE + 1)`` connections, plus the driver's few,
must stay within the server's ``max_connections`` (the README's "Scale-out on Ray")."""

BUSY_WAIT_SECONDS = STALE_SECONDS + 2 * RENEW_SECONDS
"""How long a run whose lease is held is waited for: past it, a dead holder's lease is stale
wherever it ran (`ponder.persistence.leases`), and a live one's makes `RunBusy` final."""


def pool_options(pool_size: int | None) -> dict[str, Any]:
    """The engine options capping a store's connection pool at ``pool_size`` (no overflow).

    ``None`` gives none: SQLAlchemy's default pool (5 connections, 10 more on demand).

    Raises:
        ConfigurationError: ``pool_size`` is not a positive whole number.

    Example:
        >>> pool_options(2)
        {'pool_size': 2, 'max_overflow': 0}
    """
    if pool_size is None:
        return {}
    if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
        raise ConfigurationError(f"pool_size must be a positive whole number, got {pool_size!r}")
    return {"pool_size": pool_size, "max_overflow": 0}


def worker_engine_options(db: str, pool_size: int | None) -> dict[str, Any]:
    """The engine options of a worker's store at ``db``: `pool_options` on PostgreSQL.

    A SQLite file keeps SQLAlchemy's default pool: it has no server whose connections the
    workers share, and its store works on two connections at once.

    Raises:
        ConfigurationError: ``db`` is not a usable URL, or ``pool_size`` is not positive.
    """
    options = pool_options(pool_size)
    url, _ = parse_db_url(db)
    return options if url.get_backend_name() == "postgresql" else {}


@contextlib.asynccontextmanager
async def open_worker_store(db: str, *, pool_size: int | None) -> AsyncIterator[Db]:
    """Open the store a worker's durable runs share (``async with``), closed after.

    A ponder database URL is opened once, as a `SqlCheckpointer` whose pool holds at most
    ``pool_size`` connections on PostgreSQL (`worker_engine_options`); what is yielded goes
    to `arun_durable` as its ``db``. A LangGraph saver URL is yielded as it is (each run
    opens it; its pool is the saver's own).

    Raises:
        ConfigurationError: ``db`` is not a usable URL, or ``pool_size`` is not positive.
    """
    if is_saver_url(db):
        pool_options(pool_size)
        yield db
        return
    options = worker_engine_options(db, pool_size)
    async with SqlCheckpointer.from_url(db, engine_options=options) as saver:
        yield saver


async def arun_durable(
    problem: str,
    strategy: StrategyName,
    *,
    db: Db,
    run_id: str,
    model: BaseChatModel,
    budget: Budget | Mapping[str, Any] | None = None,
    verifier: Verifier | None = None,
    extractor: Extractor | None = None,
    seed: int = 0,
    call_timeout: float | None = 300.0,
    pause_on_budget: bool = True,
    **options: Any,
) -> RunResult:
    """Start, continue or read the persisted run ``run_id`` (see the module docstring).

    Args:
        problem: The question.
        strategy: The strategy.
        db: The shared database URL, or the store `open_worker_store` opened (or any saver).
        run_id: The run's id, derived from the problem by the caller's job.
        model: The chat model.
        budget: The limits (`ponder.DEFAULT_BUDGET` when ``None``).
        verifier: Judges candidates.
        extractor: Turns a candidate's text into an answer.
        seed: Base sampling seed.
        call_timeout: Seconds one model call may take.
        pause_on_budget: Pause for a top-up when the budget runs out (as `ponder.asolve`
            with ``db=`` does); ``False`` ends the run there with its answer.
        **options: The strategy's options (plain data: they are stored with the run).

    Raises:
        ConfigurationError: Bad settings, or a run ``run_id`` of another problem or strategy.
        RunBusy: A live process still works on the run after `BUSY_WAIT_SECONDS`.
        CheckpointError: The run's checkpoint is damaged, or the store failed.
    """
    spec = strategy_spec(strategy)
    settings = make_config(spec, options)
    check_verifier(spec, verifier)
    limits = (DEFAULT_BUDGET if budget is None else Budget.from_limits(budget)).to_limits()
    try:
        stored_options = json.loads(json.dumps(options))
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"a durable run keeps its options as plain data ({exc})") from exc
    context = make_context(
        model, verifier=verifier, extractor=extractor, step_scorer=None, seed=seed,
        call_timeout=call_timeout, persisted=pause_on_budget,
    )  # fmt: skip
    waited_until = time.monotonic() + BUSY_WAIT_SECONDS
    while True:
        try:
            async with open_store(db) as saver:
                known = await saver.aget_run(run_id) is not None
            if not known:
                return await start_run(
                    db, run_id, spec=spec, config=settings,
                    inputs={"problem": problem, "budget": limits}, options=stored_options,
                    context=context, model_spec=None, on_progress=None,
                    created_at=time.time(), parent_run_id=None,
                )  # fmt: skip
            return await _go_on(db, run_id, problem, spec, settings, context)
        except RunBusy:
            if time.monotonic() > waited_until:
                raise
            await asyncio.sleep(1.0)


async def _go_on(
    db: Db, run_id: str, problem: str, spec: StrategySpec, settings: Any, context: Any
) -> RunResult:
    """Continue a recorded run that was interrupted, or read the result of one that ended."""
    async with open_store(db) as store, store.lease(run_id):
        saver = store.saver
        record = await get_record(store, run_id)
        if record["problem"] != problem or record["strategy"] != spec.name:
            raise ConfigurationError(
                f"run {run_id!r} exists for another problem or strategy ({record['strategy']}); "
                "give the job another id"
            )
        graph = persisted_graph(spec, settings, saver)
        thread = thread_config(run_id, settings)
        snapshot = await graph.aget_state(thread)
        if record["status"] != "running":  # it ended: read it, run nothing
            check_state(snapshot.values, f"run {run_id!r}")
            values = dict(snapshot.values)
            if record["status"] == "failed":
                values["status"] = "failed"
            reason = pause_reason(snapshot)
            return result_from(
                values, strategy=spec.name, wall_seconds=record["seconds"],
                paused=reason is not None, pause_reason=reason or "budget", run_id=run_id,
            )  # fmt: skip
        inputs: Any = None  # go on from the last checkpoint: finished steps are not redone
        if snapshot.values or snapshot.next:
            latest = await saver.aget_tuple(thread)
            check_state(
                snapshot.values, f"run {run_id!r}", (latest and latest.pending_writes) or []
            )
        else:  # recorded, then killed before its first checkpoint: start it afresh
            inputs = {"problem": record["problem"], "budget": record["budget"]}
        return await run_persisted(
            store, graph, record, inputs, context=context, config=settings, on_progress=None
        )


def run_durable(
    problem: str,
    strategy: StrategyName,
    *,
    db: Db,
    run_id: str,
    model: BaseChatModel,
    budget: Budget | Mapping[str, Any] | None = None,
    verifier: Verifier | None = None,
    extractor: Extractor | None = None,
    seed: int = 0,
    call_timeout: float | None = 300.0,
    pause_on_budget: bool = True,
    **options: Any,
) -> RunResult:
    """Start, continue or read a durable run: the sync twin of `arun_durable`."""
    return run_sync(
        arun_durable(
            problem, strategy, db=db, run_id=run_id, model=model, budget=budget,
            verifier=verifier, extractor=extractor, seed=seed, call_timeout=call_timeout,
            pause_on_budget=pause_on_budget, **options,
        ),
        name="run_durable",
    )  # fmt: skip
