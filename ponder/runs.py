"""Persisted runs: start, list, resume, fork and remove them.

A persisted run (``ponder.solve(..., db=URL)``, and every ``ponder solve`` unless
``--no-save``) is checkpointed after every step by `ponder.persistence.SqlCheckpointer` and
recorded in the run registry. It can then be:

- resumed after its budget ran out (it pauses, ``status == "paused"``) with a top-up:
  `aresume` with ``add_tokens=...``; the strategy goes on from the step it could not afford,
  as if the budget had been larger from the start;
- resumed after a crash or a kill: `aresume` continues from the last checkpoint, and no model
  call whose result was checkpointed is made again;
- forked from any of its checkpoints (`afork`), with the same or another strategy, keeping
  the candidates and the spend up to that checkpoint;
- listed (`alist_runs`, `alist_checkpoints`) and removed (`aremove_run`).

Every function has a sync twin without the ``a`` (``resume``, ``fork``, ...).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any, TypedDict, cast

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command
from sqlalchemy.engine import make_url

from ponder._sync import run_sync
from ponder.api import DEFAULT_DB, check_verifier, make_context, verifier_record
from ponder.budget import Budget
from ponder.context import RunContext
from ponder.errors import ConfigurationError
from ponder.graphs.registry import StrategySpec, compiled, make_config, strategy_spec
from ponder.models.resolve import ModelSpec, resolve_model
from ponder.nodes.pause import TopUp
from ponder.persistence.runs import RunRecord
from ponder.persistence.sqlalchemy import SqlCheckpointer
from ponder.result import RunResult
from ponder.runner import ProgressCallback, drive, result_from
from ponder.state import StopReason
from ponder.verify.extract import Extractor
from ponder.verify.math import MathAnswer
from ponder.verify.verifier import ExpectedAnswer, Verifier

__all__ = (
    "CheckpointInfo",
    "afork",
    "alist_checkpoints",
    "alist_runs",
    "aremove_run",
    "aresume",
    "fork",
    "list_checkpoints",
    "list_runs",
    "open_store",
    "remove_run",
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


def open_store(db: str) -> SqlCheckpointer:
    """Open the store at ``db``; a ``?schema=NAME`` query picks a PostgreSQL schema.

    Example:
        >>> saver = open_store("postgresql+asyncpg://postgres@127.0.0.1/test?schema=ponder")
        >>> saver.close()
    """
    url = make_url(db)
    schema = url.query.get("schema")
    if isinstance(schema, tuple):
        raise ConfigurationError(f"the database URL names several schemas: {schema}")
    return SqlCheckpointer.from_url(url.difference_update_query(["schema"]), schema=schema)


def _pause_reason(snapshot: Any) -> StopReason | None:
    """Why a run is paused (``budget`` or ``approval``), or ``None`` when it is not."""
    for task in snapshot.tasks:
        for pending in task.interrupts:
            value = pending.value
            return (
                "approval"
                if isinstance(value, dict) and value.get("reason") == "approval"
                else "budget"
            )
    return None


def _graph(spec: StrategySpec, config: Any, saver: SqlCheckpointer) -> Any:
    return compiled(spec.name, config).builder.compile(checkpointer=saver, name=spec.name)


def _thread(run_id: str, config: Any, checkpoint_id: str | None = None) -> RunnableConfig:
    configurable: dict[str, Any] = {"thread_id": run_id}
    if checkpoint_id is not None:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable, "recursion_limit": config.recursion_limit}


async def _run(
    saver: SqlCheckpointer,
    graph: Any,
    record: RunRecord,
    inputs: Any,
    *,
    context: RunContext,
    config: Any,
    on_progress: ProgressCallback | None,
) -> RunResult:
    thread = _thread(record["run_id"], config)
    before = record["seconds"]
    spent = {"ledger": -1}

    async def on_step(values: Mapping[str, Any]) -> None:
        ledger = values.get("ledger", [])
        if len(ledger) != spent["ledger"]:  # keep the registry current as calls are made
            spent["ledger"] = len(ledger)
            record["tokens"] = sum(e["tokens_in"] + e["tokens_out"] for e in ledger)
            record["calls"] = len(ledger)
            record["seconds"] = before + context.elapsed()
            record["updated_at"] = time.time()
            await saver.aput_run(record)

    streamed = await drive(
        graph, inputs, config=thread, context=context, on_progress=on_progress, on_step=on_step
    )
    snapshot = await graph.aget_state(thread)
    reason = _pause_reason(snapshot)
    paused = reason is not None
    values = dict(snapshot.values)
    if streamed.get("status") == "failed" and len(streamed.get("errors", [])) > len(
        values.get("errors", [])
    ):  # a node raised: the failure is in what drive() kept, not in the checkpoint
        values.update(status="failed", errors=streamed["errors"], stop_reason="error")
    result = result_from(
        values, strategy=record["strategy"], wall_seconds=context.elapsed(),
        paused=paused, pause_reason=reason or "budget", seconds_before=before,
        run_id=record["run_id"],
    )  # fmt: skip
    record["status"] = result.status
    record["stop_reason"] = result.stop_reason
    record["answer"] = result.answer
    record["tokens"] = result.usage.tokens
    record["calls"] = result.usage.calls
    record["seconds"] = result.wall_seconds
    record["budget"] = snapshot.values.get("budget", record["budget"])
    record["updated_at"] = time.time()
    await saver.aput_run(record)
    return result


async def start_run(
    db: str,
    run_id: str,
    *,
    spec: StrategySpec,
    config: Any,
    inputs: dict[str, Any],
    options: dict[str, Any],
    context: RunContext,
    model_spec: str | None,
    verifier: dict[str, Any] | None,
    on_progress: ProgressCallback | None,
    created_at: float,
    parent_run_id: str | None,
) -> RunResult:
    """Record a new run in ``db`` and run it, checkpointed (used by `ponder.asolve`)."""
    async with open_store(db) as saver:
        if await saver.aget_run(run_id) is not None:
            raise ConfigurationError(f"run {run_id!r} exists already: resume it or pick another id")
        record = RunRecord(
            run_id=run_id, strategy=spec.name, problem=inputs["problem"], options=options,
            model=model_spec if model_spec is not None else _model_label(context.model),
            verifier=verifier, budget=inputs["budget"], seed=context.seed, status="running",
            stop_reason=None, answer=None, tokens=0, calls=0, seconds=0.0,
            parent_run_id=parent_run_id, created_at=created_at, updated_at=created_at,
        )  # fmt: skip
        await saver.aput_run(record)
        return await _run(
            saver, _graph(spec, config, saver), record, inputs,
            context=context, config=config, on_progress=on_progress,
        )  # fmt: skip


def _model_label(model: BaseChatModel) -> str | None:
    from ponder.models.embedded import EmbeddedChatModel

    if isinstance(model, EmbeddedChatModel) and model.model_name in ("smollm2", "gemma3"):
        return None if model.model_name == "smollm2" else model.model_name
    return f"object:{type(model).__name__}"


def _model_for(record: RunRecord, model: ModelSpec) -> BaseChatModel:
    if model is not None:
        return resolve_model(model)
    stored = record["model"]
    if stored is not None and stored.startswith("object:"):
        raise ConfigurationError(
            f"run {record['run_id']!r} used a model given as an object ({stored[7:]}); "
            "pass it again: model=..."
        )
    return resolve_model(stored)


def _verifier_for(record: RunRecord, verifier: Verifier | None) -> Verifier | None:
    if verifier is not None:
        return verifier
    stored = record["verifier"]
    if stored is None:
        return None
    if "expected" in stored:
        return ExpectedAnswer(stored["expected"], stored.get("kind", "number"))
    if "math" in stored:
        return MathAnswer(stored["math"])
    raise ConfigurationError(
        f"run {record['run_id']!r} used a verifier given as code ({stored.get('custom')}); "
        "pass it again: verifier=..."
    )


async def _record(saver: SqlCheckpointer, run_id: str) -> RunRecord:
    record = await saver.aget_run(run_id)
    if record is None:
        raise ConfigurationError(f"no run {run_id!r} here; `ponder runs` lists the runs")
    return record


async def aresume(
    run_id: str,
    *,
    db: str = DEFAULT_DB,
    add_tokens: int | None = None,
    add_calls: int | None = None,
    add_seconds: float | None = None,
    add_cost: float | None = None,
    model: ModelSpec = None,
    verifier: Verifier | None = None,
    extractor: Extractor | None = None,
    call_timeout: float | None = 300.0,
    on_progress: ProgressCallback | None = None,
    approve: bool | None = None,
) -> RunResult:
    """Resume a paused run with a top-up, or continue a run that was killed mid-way.

    Args:
        run_id: The run.
        db: Its database URL.
        add_tokens: Tokens to add to a paused run's budget (likewise ``add_calls``,
            ``add_seconds``, ``add_cost``).
        add_calls: Model calls to add.
        add_seconds: Wall seconds to add.
        add_cost: Money to add.
        model: The model, when the run's was given as an object (else the stored spec).
        verifier: The verifier, when the run's was given as code (else the stored one).
        extractor: The answer extractor (numbers by default).
        call_timeout: Seconds one model call may take.
        on_progress: Called as candidates are drawn and judged.
        approve: The answer to a run waiting for approval before an expensive phase:
            ``True`` runs the phase, ``False`` ends the run with what it has.

    Raises:
        ConfigurationError: No such run; a paused run without a top-up or an approval;
            a finished run.
    """
    async with open_store(db) as saver:
        record = await _record(saver, run_id)
        spec = strategy_spec(record["strategy"])
        config = make_config(spec, record["options"])
        checked = _verifier_for(record, verifier)
        check_verifier(spec, checked)
        context = make_context(
            _model_for(record, model), verifier=checked, extractor=extractor, step_scorer=None,
            seed=record["seed"], call_timeout=call_timeout, persisted=True,
        )  # fmt: skip
        graph = _graph(spec, config, saver)
        snapshot = await graph.aget_state(_thread(run_id, config))
        reason = _pause_reason(snapshot)
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
        await saver.aput_run(record)
        return await _run(
            saver, graph, record, inputs, context=context, config=config,
            on_progress=on_progress,
        )  # fmt: skip


async def afork(
    run_id: str,
    *,
    at: str | None = None,
    strategy: str | None = None,
    db: str = DEFAULT_DB,
    new_run_id: str | None = None,
    add_tokens: int | None = None,
    model: ModelSpec = None,
    verifier: Verifier | None = None,
    extractor: Extractor | None = None,
    on_progress: ProgressCallback | None = None,
    **options: Any,
) -> RunResult:
    """Start a new run from a checkpoint of ``run_id``, keeping its candidates and spend.

    Args:
        run_id: The run to fork.
        at: The checkpoint id (see `alist_checkpoints`); the latest when ``None``.
        strategy: The new run's strategy (the same when ``None``).
        db: The database URL.
        new_run_id: The new run's id (a fresh one when ``None``).
        add_tokens: Tokens to add to the budget the run had at that checkpoint.
        model: The model (the run's stored spec when ``None``).
        verifier: The verifier (the run's stored one when ``None``).
        extractor: The answer extractor.
        on_progress: Called as candidates are drawn and judged.
        **options: The new strategy's options (the run's own when the strategy is the same
            and none are given).

    Raises:
        ConfigurationError: No such run or checkpoint, or unusable options.
    """
    async with open_store(db) as saver:
        record = await _record(saver, run_id)
        old_spec = strategy_spec(record["strategy"])
        old_config = make_config(old_spec, record["options"])
        source = await _graph(old_spec, old_config, saver).aget_state(
            _thread(run_id, old_config, at)
        )
        if not source.values:
            raise ConfigurationError(f"run {run_id!r} has no checkpoint {at!r}")
    spec = strategy_spec(strategy or record["strategy"])
    if not options and spec.name == record["strategy"]:
        options = dict(record["options"])
    config = make_config(spec, options)
    checked = _verifier_for(record, verifier)
    check_verifier(spec, checked)
    values = source.values
    budget = top_up(Budget.from_limits(values["budget"]), add_tokens=add_tokens)
    inputs = {
        "problem": values["problem"],
        "budget": budget.to_limits(),
        "candidates": values.get("candidates", []),
        "ledger": values.get("ledger", []),
        "errors": values.get("errors", []),
    }
    context = make_context(
        _model_for(record, model), verifier=checked, extractor=extractor, step_scorer=None,
        seed=record["seed"], call_timeout=300.0, persisted=True,
    )  # fmt: skip
    return await start_run(
        db, new_run_id or uuid.uuid4().hex[:12], spec=spec, config=config, inputs=inputs,
        options=options, context=context, model_spec=record["model"],
        verifier=verifier_record(checked), on_progress=on_progress, created_at=time.time(),
        parent_run_id=run_id,
    )  # fmt: skip


async def alist_runs(*, db: str = DEFAULT_DB, limit: int | None = None) -> list[RunRecord]:
    """Return the runs in ``db``, newest first."""
    async with open_store(db) as saver:
        return await saver.alist_runs(limit=limit)


async def alist_checkpoints(run_id: str, *, db: str = DEFAULT_DB) -> list[CheckpointInfo]:
    """Return a run's checkpoints (its top-level graph's), newest first."""
    async with open_store(db) as saver:
        await _record(saver, run_id)
        found: list[CheckpointInfo] = []
        async for item in saver.alist({"configurable": {"thread_id": run_id, "checkpoint_ns": ""}}):
            channels = item.checkpoint["channel_values"]
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


async def aremove_run(run_id: str, *, db: str = DEFAULT_DB) -> None:
    """Delete a run: its record and every checkpoint.

    Raises:
        ConfigurationError: There is no such run.
    """
    async with open_store(db) as saver:
        if not await saver.adelete_run(run_id):
            raise ConfigurationError(f"no run {run_id!r} here; `ponder runs` lists the runs")


def resume(run_id: str, **kwargs: Any) -> RunResult:
    """Sync twin of `aresume`."""
    return run_sync(aresume(run_id, **kwargs), name="resume")


def fork(run_id: str, **kwargs: Any) -> RunResult:
    """Sync twin of `afork`."""
    return run_sync(afork(run_id, **kwargs), name="fork")


def list_runs(*, db: str = DEFAULT_DB, limit: int | None = None) -> list[RunRecord]:
    """Sync twin of `alist_runs`."""
    return run_sync(alist_runs(db=db, limit=limit), name="list_runs")


def list_checkpoints(run_id: str, *, db: str = DEFAULT_DB) -> list[CheckpointInfo]:
    """Sync twin of `alist_checkpoints`."""
    return run_sync(alist_checkpoints(run_id, db=db), name="list_checkpoints")


def remove_run(run_id: str, *, db: str = DEFAULT_DB) -> None:
    """Sync twin of `aremove_run`."""
    run_sync(aremove_run(run_id, db=db), name="remove_run")
