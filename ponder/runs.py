"""Persisted runs: start, list, resume, fork and remove them.

A persisted run (``ponder.solve(..., db=...)``, and every ``ponder solve`` unless
``--no-save``) is checkpointed after every step, and its record kept beside its
checkpoints. ``db`` names where: a database URL for `ponder.persistence.SqlCheckpointer`
(the default, ``ponder.db``), a URL naming one of LangGraph's savers
(``langgraph+sqlite:///runs.db``, ``langgraph+postgres://...``), or any LangGraph saver
object (``InMemorySaver``, ``AsyncSqliteSaver``, ``AsyncPostgresSaver``, ...); see
`ponder.stores`. A thread of the user's own graph with a ponder strategy in it is listed,
shown and re-scored too. A run can then be:

- resumed after its budget ran out (it pauses, ``status == "paused"``) with a top-up:
  `aresume` with ``add_tokens=...``; the strategy goes on from the step it could not afford,
  as if the budget had been larger from the start;
- resumed after a crash or a kill: `aresume` continues from the last checkpoint, and no model
  call whose result was checkpointed is made again;
- forked from any of its checkpoints (`afork`), with the same or another strategy, keeping
  the candidates and the spend up to that checkpoint;
- listed (`alist_runs`, `alist_checkpoints`) and removed (`aremove_run`);
- re-scored (`arescore`): the answer another selection rule would give over the candidates
  it stored, their confidences included, without calling the model again.

In a `ponder.persistence.SqlCheckpointer`, one process at a time works on a run: starting,
resuming or forking into a run takes its lease (`ponder.persistence.leases`), and a second
process is refused with `ponder.errors.RunBusy` before it reads or spends anything. A run
whose process died shows as ``interrupted`` in `alist_runs`, and resuming it takes the dead
process's lease over. Other savers have no leases (see `ponder.stores`).

A resumed or forked run is set up as the run started: its record keeps the model spec, the
verifier, the answer extractor, the step scorer and the timeouts (`ponder.setup` builds and
restores the context; `open_store` and `start_run` are re-exported from there). Every
function has a sync twin without the ``a`` (``resume``, ``fork``, ...).
"""

from __future__ import annotations

import math
import time
import uuid
from typing import Any, cast, get_args

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command
from typing_extensions import TypedDict

from ponder._sync import run_sync
from ponder.budget import Budget
from ponder.errors import ConfigurationError
from ponder.graphs.registry import make_config, strategy_spec
from ponder.models.resolve import ModelSpec
from ponder.nodes import TopUp
from ponder.nodes.select import ConfidenceVote, SelectMethod, choose
from ponder.nodes.vote import ConfidenceMeasure
from ponder.persistence.leases import is_dead
from ponder.persistence.runs import RunRecord
from ponder.result import RunResult
from ponder.runner import ProgressCallback, traced
from ponder.setup import (
    DEFAULT_DB,
    STORED,
    Db,
    Stored,
    check_state,
    get_record,
    open_store,
    pause_reason,
    persisted_graph,
    restore_context,
    run_persisted,
    run_settings,
    start_run,
    thread_config,
)
from ponder.verify.extract import Extractor
from ponder.verify.record import verifier_record
from ponder.verify.reward import ProcessReward
from ponder.verify.verifier import Verifier

__all__ = (
    "STORED",
    "CheckpointInfo",
    "Rescored",
    "afork",
    "alist_checkpoints",
    "alist_runs",
    "aremove_run",
    "arescore",
    "aresume",
    "fork",
    "list_checkpoints",
    "list_runs",
    "open_store",
    "remove_run",
    "rescore",
    "resume",
    "start_run",
    "top_up",
)


class CheckpointInfo(TypedDict):
    """One checkpoint of a run, as `alist_checkpoints` lists it."""

    checkpoint_id: str
    """Its id (what `afork` takes as ``at``)."""
    step: int
    """The LangGraph step it was taken after."""
    candidates: int
    """Candidates in the state at that point."""
    tokens: int
    """Tokens spent at that point."""


class Rescored(TypedDict):
    """What another selection rule makes of a stored run (`arescore`)."""

    run_id: str
    """The run."""
    select: SelectMethod
    """The rule applied."""
    answer: str | None
    """Its answer."""
    votes: dict[str, float]
    """The votes it counted."""
    stored_answer: str | None
    """The answer the run itself gave (``None`` when it has not ended)."""
    candidates: int
    """Candidates it chose among."""
    with_confidence: int
    """Those that carry the model's confidence (none: a confidence rule is a majority)."""


def top_up(
    budget: Budget,
    *,
    add_tokens: int | None = None,
    add_calls: int | None = None,
    add_seconds: float | None = None,
    add_cost: float | None = None,
) -> Budget:
    """Return ``budget`` with its limits raised; an increment for an unlimited unit is ignored.

    Raises:
        ConfigurationError: An increment is not positive.
    """
    increments = {
        "tokens": add_tokens,
        "calls": add_calls,
        "seconds": add_seconds,
        "cost": add_cost,
    }
    for name, value in increments.items():
        if value is not None and (isinstance(value, bool) or not value > 0):
            raise ConfigurationError(f"add_{name} must be positive, got {value!r}")

    def raised(current: float | None, extra: float | None) -> float | None:
        return current if current is None or extra is None else current + extra

    return Budget(
        tokens=raised(budget.tokens, add_tokens),  # type: ignore[arg-type]
        calls=raised(budget.calls, add_calls),  # type: ignore[arg-type]
        seconds=raised(budget.seconds, add_seconds),
        cost=raised(budget.cost, add_cost),
        pricing=budget.pricing,
    )


async def aresume(
    run_id: str,
    *,
    db: Db = DEFAULT_DB,
    add_tokens: int | None = None,
    add_calls: int | None = None,
    add_seconds: float | None = None,
    add_cost: float | None = None,
    model: ModelSpec = None,
    verifier: Verifier | None = None,
    extractor: Extractor | None = None,
    step_scorer: ProcessReward | None = None,
    call_timeout: float | None | Stored = STORED,
    verifier_timeout: float | None = None,
    on_progress: ProgressCallback | None = None,
    approve: bool | None = None,
    config: RunnableConfig | None = None,
) -> RunResult:
    """Resume a paused run with a top-up, or continue a run that was killed mid-way.

    The run goes on with the context it was started with: its model spec, verifier, answer
    extractor, step scorer and timeouts, as its record stores them. Each one passed here
    replaces the stored one (and is stored for the next resume); one that was given as code
    (a model object, a verifier, extractor or step scorer of yours) is not stored and must be
    passed again.

    Args:
        run_id: The run.
        db: Where it is kept: a database URL, a LangGraph saver URL or a saver object
            (see `ponder.stores`).
        add_tokens: Tokens to add to a paused run's budget (likewise ``add_calls``,
            ``add_seconds``, ``add_cost``).
        add_calls: Model calls to add.
        add_seconds: Wall seconds to add.
        add_cost: Money to add.
        model: The model, when the run's was given as an object (else the stored spec).
        verifier: The verifier, when the run's was given as code (else the stored one).
        extractor: The answer extractor, when the run's was given as code (else the
            stored one: `ponder.verify.extract_repaired_number` by default).
        step_scorer: The process reward scoring tree-search steps, when the run had one
            (always given as code).
        call_timeout: Seconds one model call may take (``None``: no limit); the run's own
            when left at `ponder.setup.STORED`.
        verifier_timeout: Seconds one verification may take; the run's own when ``None``.
        on_progress: Called as candidates are drawn and judged.
        approve: The answer to a run waiting for approval before an expensive phase:
            ``True`` runs the phase, ``False`` ends the run with what it has.
        config: A LangChain ``RunnableConfig`` for tracing, as for `ponder.asolve`.

    Raises:
        ConfigurationError: No such run; a paused run without a top-up or an approval;
            a finished run; a model, verifier, extractor or step scorer given as code that
            is not given again.
        RunBusy: Another live process is working on the run.
        CheckpointError: The run's record or its checkpoint is damaged, or the store failed
            while the run went on (the run is then recorded ``failed``: fork it).
    """
    async with open_store(db) as store, store.lease(run_id):
        saver = store.saver
        record = await get_record(store, run_id, to="resume")
        traced({}, config, strategy=record["strategy"], run_id=run_id)  # refuse it before
        spec = strategy_spec(record["strategy"])
        settings = make_config(spec, record["options"])
        context = restore_context(
            record, spec, model=model, verifier=verifier, extractor=extractor,
            step_scorer=step_scorer, call_timeout=call_timeout,
            verifier_timeout=verifier_timeout,
        )  # fmt: skip
        graph = persisted_graph(spec, settings, saver)
        snapshot = await graph.aget_state(thread_config(run_id, settings))
        latest = await saver.aget_tuple(thread_config(run_id, settings))
        pending = (latest.pending_writes or []) if latest is not None else []
        check_state(snapshot.values, f"run {run_id!r}", pending)  # what the resume replays
        reason = pause_reason(snapshot)
        paused = reason is not None
        wants_more = any(v is not None for v in (add_tokens, add_calls, add_seconds, add_cost))
        inputs: Any
        if reason == "approval":
            if approve is None:
                raise ConfigurationError(
                    f"run {run_id!r} waits for approval before an expensive phase: resume it "
                    "with approve=True or approve=False (ponder resume RUN --approve/--decline)"
                )
            inputs = Command(resume=approve)
        elif paused:
            if not wants_more:
                raise ConfigurationError(
                    f"run {run_id!r} is paused: its budget ran out. Resume it with more, "
                    "for example add_tokens=2000 (ponder resume RUN --add-tokens 2000)"
                )
            budget = top_up(
                Budget.from_limits(snapshot.values["budget"]), add_tokens=add_tokens,
                add_calls=add_calls, add_seconds=add_seconds, add_cost=add_cost,
            )  # fmt: skip
            inputs = Command(
                resume=TopUp(budget=budget.to_limits(), seconds_before=record["seconds"])
            )
        elif snapshot.next:
            if wants_more:
                raise ConfigurationError(
                    f"run {run_id!r} stopped mid-step (killed?), not for lack of budget: "
                    "resume it without a top-up first"
                )
            inputs = None  # go on from the last checkpoint; finished steps are not redone
        elif record["status"] == "running" and snapshot.values:
            # Killed after its last step but before its record was updated: it is finished;
            # bring the record up to date and return the result (nothing runs, nothing spent).
            inputs = None
        else:
            raise ConfigurationError(
                f"run {run_id!r} is {record['status']}: there is nothing to resume "
                "(fork it to try again: ponder fork RUN --at CHECKPOINT)"
            )
        record["status"] = "running"
        record["verifier"] = verifier_record(context.verifier)
        record["settings"] = run_settings(context)
        await store.aput_run(record)
        return await run_persisted(
            store, graph, record, inputs, context=context, config=settings,
            on_progress=on_progress, trace=config,
        )  # fmt: skip


async def afork(
    run_id: str,
    *,
    at: str | None = None,
    strategy: str | None = None,
    db: Db = DEFAULT_DB,
    new_run_id: str | None = None,
    add_tokens: int | None = None,
    model: ModelSpec = None,
    verifier: Verifier | None = None,
    extractor: Extractor | None = None,
    step_scorer: ProcessReward | None = None,
    call_timeout: float | None | Stored = STORED,
    verifier_timeout: float | None = None,
    on_progress: ProgressCallback | None = None,
    config: RunnableConfig | None = None,
    **options: Any,
) -> RunResult:
    """Start a new run from a checkpoint of ``run_id``, keeping its candidates and spend.

    The new run is set up as ``run_id`` was (model spec, verifier, answer extractor, step
    scorer, timeouts), except for what is passed here; see `aresume`.

    Args:
        run_id: The run to fork.
        at: The checkpoint id (see `alist_checkpoints`); the latest when ``None``.
        strategy: The new run's strategy (the same when ``None``).
        db: Where the run is kept (see `ponder.stores`); the new run is kept there too.
        new_run_id: The new run's id (a fresh one when ``None``).
        add_tokens: Tokens to add to the budget the run had at that checkpoint.
        model: The model (the run's stored spec when ``None``).
        verifier: The verifier (the run's stored one when ``None``).
        extractor: The answer extractor (the run's stored one when ``None``).
        step_scorer: The process reward scoring tree-search steps (needed again when the
            run had one).
        call_timeout: Seconds one model call may take (``None``: no limit); the run's own
            when left at `ponder.setup.STORED`.
        verifier_timeout: Seconds one verification may take; the run's own when ``None``.
        on_progress: Called as candidates are drawn and judged.
        config: A LangChain ``RunnableConfig`` for tracing, as for `ponder.asolve`.
        **options: The new strategy's options (the run's own when the strategy is the same
            and none are given).

    Raises:
        ConfigurationError: No such run or checkpoint, unusable options, or a model,
            verifier, extractor or step scorer given as code that is not given again.
        CheckpointError: The run's record or the checkpoint is damaged.
    """
    async with open_store(db) as store:
        record = await get_record(store, run_id, to="fork")
        old_spec = strategy_spec(record["strategy"])
        old_config = make_config(old_spec, record["options"])
        source = await persisted_graph(old_spec, old_config, store.saver).aget_state(
            thread_config(run_id, old_config, at)
        )
        if not source.values:
            raise ConfigurationError(f"run {run_id!r} has no checkpoint {at!r}")
        check_state(source.values, f"run {run_id!r}")
    spec = strategy_spec(strategy or record["strategy"])
    if not options and spec.name == record["strategy"]:
        options = dict(record["options"])
    traced({}, config, strategy=spec.name, run_id=new_run_id)  # refuse a bad one before
    settings = make_config(spec, options)
    context = restore_context(
        record, spec, model=model, verifier=verifier, extractor=extractor,
        step_scorer=step_scorer, call_timeout=call_timeout, verifier_timeout=verifier_timeout,
    )  # fmt: skip
    values = source.values
    budget = top_up(Budget.from_limits(values["budget"]), add_tokens=add_tokens)
    inputs = {
        "problem": values["problem"],
        "budget": budget.to_limits(),
        "candidates": values.get("candidates", []),
        "ledger": values.get("ledger", []),
        "errors": values.get("errors", []),
    }
    return await start_run(
        db, new_run_id or uuid.uuid4().hex[:12], spec=spec, config=settings, inputs=inputs,
        options=options, context=context, model_spec=record["model"],
        on_progress=on_progress, created_at=time.time(), parent_run_id=run_id, trace=config,
    )  # fmt: skip


async def alist_runs(*, db: Db = DEFAULT_DB, limit: int | None = None) -> list[RunRecord]:
    """Return the runs in ``db``, newest first, threads of users' graphs with a strategy too.

    A thread of a user's own graph has its strategy's checkpoint namespace under
    ``namespace`` (see `ponder.stores`). In a `ponder.persistence.SqlCheckpointer`, a run
    recorded as ``running`` whose process is gone (no live lease) is listed as
    ``interrupted``: resume it to go on (other savers have no leases: such a run is listed
    as ``running``).
    """
    async with open_store(db) as store:
        records = await store.alist_runs(limit=limit)
        running = [r["run_id"] for r in records if r["status"] == "running"]
        held = await store.aget_leases(running) if running and store.has_leases else None
    for record in records:
        if held is None or "namespace" in record:
            continue
        lease = held.get(record["run_id"])
        if record["status"] == "running" and (lease is None or is_dead(lease)):
            record["status"] = "interrupted"
    return records


async def alist_checkpoints(run_id: str, *, db: Db = DEFAULT_DB) -> list[CheckpointInfo]:
    """Return a run's checkpoints (its top-level graph's), newest first.

    Raises:
        ConfigurationError: There is no such run.
        CheckpointError: Its record or a checkpoint is damaged.
    """
    async with open_store(db) as store:
        record = await get_record(store, run_id)
        found: list[CheckpointInfo] = []
        async for item in store.saver.alist(store.strategy_config(record)):
            channels = item.checkpoint["channel_values"]
            check_state(channels, f"run {run_id!r}")
            ledger = cast(list[dict[str, Any]], channels.get("ledger", []))
            found.append(
                CheckpointInfo(
                    checkpoint_id=item.checkpoint["id"],
                    step=int(item.metadata.get("step", -1)),
                    candidates=len(cast(list[Any], channels.get("candidates", []))),
                    tokens=sum(e["tokens_in"] + e["tokens_out"] for e in ledger),
                )
            )
        return found


async def arescore(
    run_id: str,
    *,
    db: Db = DEFAULT_DB,
    select: SelectMethod = "majority",
    measure: ConfidenceMeasure = "mean_logprob",
    keep: float = 0.5,
    temperature: float = 0.3,
) -> Rescored:
    """Apply another selection rule to a stored run's candidates; no model call is made.

    Args:
        run_id: The run (its latest checkpoint is read).
        db: The store.
        select: The rule (`ponder.nodes.SelectMethod`).
        measure: The confidence figure a confidence rule reads.
        keep: ``filtered``: the share of the most confident candidates that vote.
        temperature: ``confidence``: the softmax temperature of the weights.

    Raises:
        ConfigurationError: No such run, or a setting out of range.
        CheckpointError: Its record or checkpoint is damaged.
    """
    if select not in get_args(SelectMethod):
        raise ConfigurationError(
            f"select must be one of {', '.join(get_args(SelectMethod))}, got {select!r}"
        )
    if measure not in get_args(ConfidenceMeasure):
        raise ConfigurationError(
            f"measure must be one of {', '.join(get_args(ConfidenceMeasure))}, got {measure!r}"
        )
    for name, value in (("keep", keep), ("temperature", temperature)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigurationError(f"{name} must be a number, got {value!r}")
        if not math.isfinite(value) or value <= 0 or (name == "keep" and value > 1):
            bound = "in (0, 1]" if name == "keep" else "positive"
            raise ConfigurationError(f"{name} must be {bound}, got {value!r}")
    async with open_store(db) as store:
        record = await get_record(store, run_id)
        saved = await store.saver.aget_tuple(store.strategy_config(record))
    channels = saved.checkpoint["channel_values"] if saved is not None else {}
    check_state(channels, f"run {run_id!r}")
    candidates = cast(list[Any], channels.get("candidates", []))
    vote = ConfidenceVote(measure=measure, keep=keep, temperature=temperature)
    answer, votes = choose(select, candidates, vote)
    return Rescored(
        run_id=run_id, select=select, answer=answer, votes=votes,
        stored_answer=cast(str | None, channels.get("answer")), candidates=len(candidates),
        with_confidence=sum(1 for c in candidates if c.get("confidence")),
    )  # fmt: skip


async def aremove_run(run_id: str, *, db: Db = DEFAULT_DB) -> None:
    """Delete a run: its record and every checkpoint.

    Raises:
        ConfigurationError: There is no such run.
    """
    async with open_store(db) as store:
        record = await store.aget_run(run_id)
        if record is not None and "namespace" in record:
            raise ConfigurationError(
                f"{run_id!r} is a thread of your own graph, not a run ponder started: delete "
                "it with your saver (saver.delete_thread(thread_id))"
            )
        if record is None or not await store.adelete_run(run_id):
            raise ConfigurationError(f"no run {run_id!r} here; `ponder runs` lists the runs")


def resume(
    run_id: str,
    *,
    db: Db = DEFAULT_DB,
    add_tokens: int | None = None,
    add_calls: int | None = None,
    add_seconds: float | None = None,
    add_cost: float | None = None,
    model: ModelSpec = None,
    verifier: Verifier | None = None,
    extractor: Extractor | None = None,
    step_scorer: ProcessReward | None = None,
    call_timeout: float | None | Stored = STORED,
    verifier_timeout: float | None = None,
    on_progress: ProgressCallback | None = None,
    approve: bool | None = None,
    config: RunnableConfig | None = None,
) -> RunResult:
    """Sync twin of `aresume`."""
    return run_sync(
        aresume(
            run_id,
            db=db,
            add_tokens=add_tokens,
            add_calls=add_calls,
            add_seconds=add_seconds,
            add_cost=add_cost,
            model=model,
            verifier=verifier,
            extractor=extractor,
            step_scorer=step_scorer,
            call_timeout=call_timeout,
            verifier_timeout=verifier_timeout,
            on_progress=on_progress,
            approve=approve,
            config=config,
        ),
        name="resume",
    )


def fork(
    run_id: str,
    *,
    at: str | None = None,
    strategy: str | None = None,
    db: Db = DEFAULT_DB,
    new_run_id: str | None = None,
    add_tokens: int | None = None,
    model: ModelSpec = None,
    verifier: Verifier | None = None,
    extractor: Extractor | None = None,
    step_scorer: ProcessReward | None = None,
    call_timeout: float | None | Stored = STORED,
    verifier_timeout: float | None = None,
    on_progress: ProgressCallback | None = None,
    config: RunnableConfig | None = None,
    **options: Any,
) -> RunResult:
    """Sync twin of `afork`."""
    return run_sync(
        afork(
            run_id,
            at=at,
            strategy=strategy,
            db=db,
            new_run_id=new_run_id,
            add_tokens=add_tokens,
            model=model,
            verifier=verifier,
            extractor=extractor,
            step_scorer=step_scorer,
            call_timeout=call_timeout,
            verifier_timeout=verifier_timeout,
            on_progress=on_progress,
            config=config,
            **options,
        ),
        name="fork",
    )


def list_runs(*, db: Db = DEFAULT_DB, limit: int | None = None) -> list[RunRecord]:
    """Sync twin of `alist_runs`."""
    return run_sync(alist_runs(db=db, limit=limit), name="list_runs")


def list_checkpoints(run_id: str, *, db: Db = DEFAULT_DB) -> list[CheckpointInfo]:
    """Sync twin of `alist_checkpoints`."""
    return run_sync(alist_checkpoints(run_id, db=db), name="list_checkpoints")


def rescore(
    run_id: str,
    *,
    db: Db = DEFAULT_DB,
    select: SelectMethod = "majority",
    measure: ConfidenceMeasure = "mean_logprob",
    keep: float = 0.5,
    temperature: float = 0.3,
) -> Rescored:
    """Sync twin of `arescore`."""
    return run_sync(
        arescore(run_id, db=db, select=select, measure=measure, keep=keep, temperature=temperature),
        name="rescore",
    )


def remove_run(run_id: str, *, db: Db = DEFAULT_DB) -> None:
    """Sync twin of `aremove_run`."""
    run_sync(aremove_run(run_id, db=db), name="remove_run")
