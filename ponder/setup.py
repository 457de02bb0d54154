"""Setting up a run: what `ponder.solve`, `ponder.runs.resume` and `ponder.runs.fork` share.

- `make_context` builds a run's `RunContext` from what the caller gave, and `check_verifier`
  refuses a verifier that is unusable, or missing where the strategy needs one.
- A persisted run records the settings its context was built with (`run_settings`, a
  `RunSettings` beside its verifier), and `restore_context` rebuilds that context to resume
  or fork it: the stored settings, except those the caller passes again. What was given as
  code (a model object, a verifier, extractor or step scorer of the caller's) is not stored:
  without it again, the resume is refused with a message saying ``pass it again: ...``.
- `open_store` opens the run store ``db`` names (a database URL, a LangGraph saver URL or
  a saver object: see `ponder.stores`); `start_run` records a new persisted run and runs
  it; `run_persisted` runs a recorded one (new, resumed or forked) to its end or
  its next pause, keeping its record current.
- `check_state` refuses checkpoint values that are not of the types ponder writes (a damaged
  or tampered checkpoint), before a resume, a fork or the viewer uses them.

`ponder.api` (new runs) and `ponder.runs` (the registry, resumes and forks) both build on
this module; neither imports the other.

Example:
    >>> from ponder.testing import ScriptedChatModel
    >>> context = make_context(
    ...     ScriptedChatModel(replies=["The answer is 4."]), verifier=None, extractor=None,
    ...     step_scorer=None, seed=0, call_timeout=60.0, persisted=True,
    ... )
    >>> run_settings(context)
    {'call_timeout': 60.0, 'verifier_timeout': 30.0, 'extractor': None, 'step_scorer': None}
"""

from __future__ import annotations

import enum
import functools
import logging
import time
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from typing_extensions import is_typeddict

from ponder.context import RunContext
from ponder.errors import CheckpointError, ConfigurationError, PonderError
from ponder.graphs.registry import StrategySpec, compiled
from ponder.models.resolve import ModelSpec, prompt_style_of, resolve_model
from ponder.persistence.runs import RunRecord, RunSettings, run_marks
from ponder.result import RunResult
from ponder.runner import ProgressCallback, drive, result_from, traced
from ponder.state import RunState, StopReason, merge_by_id
from ponder.stores import Db, RunStore, open_store
from ponder.verify.arithmetic import extract_repaired_number
from ponder.verify.extract import Extractor
from ponder.verify.record import (
    extractor_from_record,
    extractor_record,
    step_scorer_from_record,
    step_scorer_record,
    verifier_from_record,
    verifier_record,
)
from ponder.verify.reward import ProcessReward
from ponder.verify.verifier import Verifier

logger = logging.getLogger(__name__)

__all__ = (
    "DEFAULT_DB",
    "Db",
    "STORED",
    "Stored",
    "check_state",
    "check_verifier",
    "get_record",
    "make_context",
    "open_store",
    "pause_reason",
    "persisted_graph",
    "restore_context",
    "run_persisted",
    "run_settings",
    "start_run",
    "thread_config",
)

DEFAULT_DB = "sqlite+aiosqlite:///ponder.db"
"""Where `ponder solve` keeps runs: ``ponder.db`` in the working directory."""


class Stored(enum.Enum):
    """The type of `STORED`."""

    STORED = "stored"

    def __repr__(self) -> str:
        return "STORED"


STORED = Stored.STORED
"""Keep the run's stored value: the default of ``call_timeout`` in `ponder.runs.aresume` and
`ponder.runs.afork`, where ``None`` means "no limit" and so cannot mean "as before"."""

_PRE_V4_SETTINGS = RunSettings(
    call_timeout=300.0, verifier_timeout=30.0, extractor=None, step_scorer=None
)
# The settings of a run recorded before schema version 4 (its record has none): the defaults
# of `ponder.solve`, which resumes then also used.


def check_verifier(spec: StrategySpec, verifier: Verifier | None) -> None:
    """Refuse a verifier that is not callable, or a missing one the strategy needs.

    Raises:
        ConfigurationError: Either.
    """
    if verifier is not None and not callable(verifier):
        raise ConfigurationError("verifier must be callable: (problem, candidate) -> score")
    if spec.needs_verifier and verifier is None:
        raise ConfigurationError(
            f"strategy {spec.name!r} needs a verifier, for example "
            "verifier=ponder.ExpectedAnswer('42') or any (problem, candidate) -> score"
        )


def make_context(
    model: BaseChatModel,
    *,
    verifier: Verifier | None,
    extractor: Extractor | None,
    step_scorer: ProcessReward | None,
    seed: int,
    call_timeout: float | None,
    persisted: bool,
    verifier_timeout: float = 30.0,
) -> RunContext:
    """Build the run context (persisted runs pause, instead of ending, when out of budget).

    Raises:
        ConfigurationError: The extractor or step scorer is not callable, the seed is not a
            whole number, or a timeout is not positive seconds (`RunContext` checks them).
    """
    return RunContext(
        model=model,
        verifier=verifier,
        extractor=extractor or extract_repaired_number,
        step_scorer=step_scorer,
        prompt_style=prompt_style_of(model),
        seed=seed,
        call_timeout=call_timeout,
        verifier_timeout=verifier_timeout,
        pause_on_budget=persisted,
    )


def check_state(
    values: Mapping[str, Any],
    where: str,
    writes: Iterable[tuple[str, str, Any]] = (),
) -> None:
    """Refuse checkpoint values that are not of the types ponder writes.

    A checkpoint holds plain data. One that was damaged or tampered with can hold anything:
    LangGraph's reader turns an unreadable or refused msgpack extension value into ``None``
    or its raw payload, which would then fail far away with a ``TypeError``. Each channel of
    `ponder.state.RunState` present in ``values`` (and each pending write to one) is checked
    against its declared type, down to the fields of every candidate, ledger entry and
    error; labels (`typing.Literal` values) are checked for their type only, so a run
    written by another ponder version stays readable. Other channels are not checked.

    Args:
        values: A checkpoint's channel values.
        where: What they are, for the message (``"run 'r1'"``).
        writes: Its pending writes, ``(task_id, channel, value)``.

    Raises:
        CheckpointError: A value is not of its channel's type.

    Example:
        >>> check_state({"problem": "2 + 2?", "candidates": None}, "run 'r1'")
        Traceback (most recent call last):
        ...
        ponder.errors.CheckpointError: run 'r1' is damaged: its checkpoint's candidates channel holds NoneType, not list[Candidate] (tampered with, or written by something else); remove the run (ponder rm RUN) or fork an earlier checkpoint
    """  # noqa: E501
    checks = _state_checks()
    found = [(name, value) for name, value in values.items() if name in checks]
    found += [(channel, value) for _, channel, value in writes if channel in checks]
    for name, value in found:
        if not checks[name](value):
            raise CheckpointError(
                f"{where} is damaged: its checkpoint's {name} channel holds "
                f"{type(value).__name__}, not {_describe(get_type_hints(RunState)[name])} "
                "(tampered with, or written by something else); remove the run (ponder rm RUN) "
                "or fork an earlier checkpoint"
            )


_Check = Callable[[Any], bool]


@functools.cache
def _state_checks() -> dict[str, _Check]:
    return {name: _check(hint) for name, hint in get_type_hints(RunState).items()}


_EXACT: dict[Any, tuple[type, ...]] = {
    str: (str,), int: (int,), float: (int, float), bool: (bool,), type(None): (type(None),),
    None: (type(None),),
}  # fmt: skip
"""The exact runtime types of the simple hints (``bool`` is not an ``int`` here)."""


def _simple(hint: Any) -> tuple[type, ...] | None:
    """The exact types ``hint`` allows, when it is a simple type, a label or a union of them."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is Literal:
        return tuple({type(arg) for arg in args})
    if origin is Union or origin is types.UnionType:
        parts = [_simple(arg) for arg in args]
        return None if None in parts else tuple(t for part in parts if part for t in part)
    return _EXACT.get(hint)


@functools.cache
def _check(hint: Any) -> _Check:
    """A function telling whether a value is of type ``hint`` (the forms the state uses).

    Built once per type: the viewer checks every checkpoint of a run, each holding the run's
    whole tree so far.
    """
    origin, args = get_origin(hint), get_args(hint)
    exact = _simple(hint)
    if exact is not None:
        allowed = frozenset(exact)
        return lambda value: type(value) in allowed
    if hint is Any:
        return lambda value: True
    if origin is Annotated:
        return _check(args[0])
    if origin is Union or origin is types.UnionType:
        alternatives = [_check(arg) for arg in args]
        return lambda value: any(check(value) for check in alternatives)
    if origin is list:
        item = _check(args[0])
        return lambda value: type(value) is list and all(map(item, value))
    if origin is dict:
        key, entry = _check(args[0]), _check(args[1])
        return lambda value: (
            type(value) is dict and all(key(k) and entry(v) for k, v in value.items())
        )
    if is_typeddict(hint):
        fields = [(name, _check(field)) for name, field in get_type_hints(hint).items()]
        needs_id = any(name == "id" for name, _ in fields)

        def typed_dict(value: Any) -> bool:
            if type(value) is not dict or (needs_id and "id" not in value):
                return False  # an item of a list channel needs its id (reducers merge by it)
            return all(check(value[name]) for name, check in fields if name in value)

        return typed_dict
    return lambda value: not isinstance(hint, type) or isinstance(value, hint)


def _describe(hint: Any) -> str:
    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:
        return _describe(args[0])
    if origin is Union or origin is types.UnionType:
        return " | ".join(_describe(arg) for arg in args)
    if origin is Literal:
        return "a label"
    if origin is not None:
        return f"{origin.__name__}[{', '.join(_describe(arg) for arg in args)}]"
    return "None" if hint is type(None) else getattr(hint, "__name__", str(hint))


def run_settings(context: RunContext) -> RunSettings:
    """What a persisted run records of its context, to rebuild it with `restore_context`."""
    return RunSettings(
        call_timeout=context.call_timeout,
        verifier_timeout=context.verifier_timeout,
        extractor=extractor_record(context.extractor),
        step_scorer=step_scorer_record(context.step_scorer),
    )


def restore_context(
    record: RunRecord,
    spec: StrategySpec,
    *,
    model: ModelSpec,
    verifier: Verifier | None,
    extractor: Extractor | None,
    step_scorer: ProcessReward | None,
    call_timeout: float | None | Stored,
    verifier_timeout: float | None,
) -> RunContext:
    """Rebuild the context a recorded run was built with, to resume or fork it as ``spec``.

    Each argument that is ``None`` (`STORED` for ``call_timeout``) takes the run's stored
    value; one given replaces it.

    Raises:
        ConfigurationError: The run used a model, verifier, extractor or step scorer given
            as code, which is not stored, and it was not passed again; or ``spec`` needs a
            verifier and there is none.
    """
    run_id = record["run_id"]
    stored = record["settings"] or _PRE_V4_SETTINGS
    if verifier is None:
        verifier = verifier_from_record(record["verifier"], run_id)
    check_verifier(spec, verifier)
    if extractor is None:
        extractor = extractor_from_record(stored["extractor"], run_id)
    if step_scorer is None:
        step_scorer = step_scorer_from_record(stored["step_scorer"], run_id)
    if isinstance(call_timeout, Stored):
        call_timeout = stored["call_timeout"]
    if verifier_timeout is None:
        verifier_timeout = stored["verifier_timeout"]
    return make_context(
        _model_for(record, model), verifier=verifier, extractor=extractor,
        step_scorer=step_scorer, seed=record["seed"], call_timeout=call_timeout,
        verifier_timeout=verifier_timeout, persisted=True,
    )  # fmt: skip


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


def _model_label(context: RunContext) -> str | None:
    """The spec that resolves to the run's model again, or ``object:<class>`` for none."""
    spec = context.traits.spec
    if spec is not None:
        return None if spec == "smollm2" else spec
    return f"object:{type(context.model).__name__}"


async def get_record(store: RunStore, run_id: str, *, to: str | None = None) -> RunRecord:
    """Return run ``run_id``'s record.

    Args:
        store: The run store.
        run_id: The run.
        to: What the caller is to do with it (``"resume"``, ``"fork"``): a thread made by a
            user's own graph is then refused, as ponder cannot run that graph.

    Raises:
        ConfigurationError: There is no such run, or it is a user's graph thread and ``to``
            is given.
    """
    record = await store.aget_run(run_id)
    if record is None:
        raise ConfigurationError(f"no run {run_id!r} here; `ponder runs` lists the runs")
    if to is not None and "namespace" in record:
        raise ConfigurationError(
            f"{run_id!r} is a thread of your own graph (its {record['strategy']} strategy "
            f"runs at namespace {record['namespace']!r}), not a run ponder started: ponder can "
            f"list, show and rescore it, and your graph can {to} it "
            "(graph.invoke(Command(resume=...), {'configurable': {'thread_id': ...}}))"
        )
    return record


def persisted_graph(spec: StrategySpec, config: Any, saver: Any) -> Any:
    """The strategy's graph, compiled to checkpoint into ``saver``."""
    return compiled(spec.name, config).builder.compile(checkpointer=saver, name=spec.name)


def thread_config(
    run_id: str,
    config: Any,
    checkpoint_id: str | None = None,
    *,
    trace: RunnableConfig | None = None,
    strategy: str | None = None,
    record: RunRecord | None = None,
) -> RunnableConfig:
    """The LangGraph config of run ``run_id`` (at ``checkpoint_id``, else its latest).

    With ``strategy``, the user's tracing config ``trace`` is merged in (`ponder.runner.traced`);
    with ``record``, each checkpoint written carries it in its metadata
    (`ponder.persistence.runs.run_marks`).
    """
    configurable: dict[str, Any] = {"thread_id": run_id}
    if record is not None:
        configurable.update(run_marks(record))
    if checkpoint_id is not None:
        configurable["checkpoint_id"] = checkpoint_id
    thread: RunnableConfig = {
        "configurable": configurable,
        "recursion_limit": config.recursion_limit,
    }
    if strategy is None:
        return thread
    return traced(thread, trace, strategy=strategy, run_id=run_id)


def pause_reason(snapshot: Any) -> StopReason | None:
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


async def run_persisted(
    store: RunStore,
    graph: Any,
    record: RunRecord,
    inputs: Any,
    *,
    context: RunContext,
    config: Any,
    on_progress: ProgressCallback | None,
    trace: RunnableConfig | None = None,
) -> RunResult:
    """Run a recorded run from ``inputs`` (or a resume ``Command``, or ``None``).

    The record is kept current as model calls are made, and holds the run's status, answer
    and spend when it ends or pauses. ``trace`` is the user's tracing config.
    """
    record["updated_at"] = time.time()  # the session starts: its checkpoints carry the record
    thread = thread_config(
        record["run_id"], config, trace=trace, strategy=record["strategy"], record=record
    )
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
            await store.aput_run(record)

    try:
        return await _run_to_end(
            store, graph, record, inputs, thread, context=context, on_progress=on_progress,
            on_step=on_step,
        )  # fmt: skip
    except Exception as exc:  # the store (or LangGraph) failed: end the run failed, forkable
        await _record_failure(store, record, exc, seconds=before + context.elapsed())
        if isinstance(exc, PonderError):
            raise
        raise CheckpointError(
            f"run {record['run_id']!r} failed while its progress was being saved: "
            f"{type(exc).__name__}: {exc}. It is recorded failed; fork it from its last "
            "checkpoint (ponder runs RUN lists them) to go on"
        ) from exc


def with_nested(snapshot: Any) -> dict[str, Any]:
    """A run's state with the work of the nested strategy it paused in merged into it.

    A strategy nested as a subgraph (the phases of ``adaptive``) hands its candidates and
    ledger back to the parent only when it ends; while it is paused they are in its own
    checkpoint, which a snapshot taken with ``subgraphs=True`` holds in its tasks. Lists are
    merged by id, so nothing is counted twice.
    """
    values = dict(snapshot.values)
    for task in snapshot.tasks:
        nested = getattr(task, "state", None)
        if nested is None or not hasattr(nested, "values"):
            continue
        inner = with_nested(nested)
        for key in ("candidates", "ledger", "errors"):
            if inner.get(key):
                values[key] = merge_by_id(list(values.get(key, [])), list(inner[key]))
    return values


async def _run_to_end(
    store: RunStore,
    graph: Any,
    record: RunRecord,
    inputs: Any,
    thread: RunnableConfig,
    *,
    context: RunContext,
    on_progress: ProgressCallback | None,
    on_step: Callable[[Mapping[str, Any]], Any],
) -> RunResult:
    before = record["seconds"]
    streamed = await drive(
        graph, inputs, config=thread, context=context, on_progress=on_progress, on_step=on_step
    )
    snapshot = await graph.aget_state(thread, subgraphs=True)
    reason = pause_reason(snapshot)
    paused = reason is not None
    values = with_nested(snapshot)
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
    await store.aput_run(record)
    return result


async def _record_failure(
    store: RunStore, record: RunRecord, exc: Exception, *, seconds: float
) -> None:
    """Record ``record``'s run as failed after ``exc``, as far as the store still allows."""
    if record["status"] == "failed":
        return
    record["status"], record["stop_reason"] = "failed", "error"
    record["seconds"], record["updated_at"] = seconds, time.time()
    try:
        await store.aput_run(record)
    except Exception as again:  # noqa: BLE001 - the store itself is failing: say so, go on
        logger.warning(
            "run %r failed (%s) and could not be recorded as failed: %s",
            record["run_id"], exc, again,
        )  # fmt: skip


async def start_run(
    db: Db,
    run_id: str,
    *,
    spec: StrategySpec,
    config: Any,
    inputs: dict[str, Any],
    options: dict[str, Any],
    context: RunContext,
    model_spec: str | None,
    on_progress: ProgressCallback | None,
    created_at: float,
    parent_run_id: str | None,
    trace: RunnableConfig | None = None,
) -> RunResult:
    """Record a new run in ``db``, with its context's verifier and settings, and run it.

    Used by `ponder.asolve` (``db=...``) and `ponder.runs.afork`.

    Raises:
        ConfigurationError: ``db`` is not usable, or a run (or a thread) ``run_id`` exists
            already.
    """
    async with open_store(db) as store, store.lease(run_id):
        taken = await store.aget_run(run_id) is not None or (
            await store.saver.aget_tuple({"configurable": {"thread_id": run_id}}) is not None
        )
        if taken:
            raise ConfigurationError(f"run {run_id!r} exists already: resume it or pick another id")
        record = RunRecord(
            run_id=run_id, strategy=spec.name, problem=inputs["problem"], options=options,
            model=model_spec if model_spec is not None else _model_label(context),
            verifier=verifier_record(context.verifier), settings=run_settings(context),
            budget=inputs["budget"], seed=context.seed, status="running", stop_reason=None,
            answer=None, tokens=0, calls=0, seconds=0.0, parent_run_id=parent_run_id,
            created_at=created_at, updated_at=created_at,
        )  # fmt: skip
        await store.aput_run(record)
        return await run_persisted(
            store, persisted_graph(spec, config, store.saver), record, inputs,
            context=context, config=config, on_progress=on_progress, trace=trace,
        )  # fmt: skip
