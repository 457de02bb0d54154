"""Running a compiled strategy graph and turning its final state into a `RunResult`.

Shared by `ponder.solve` (new runs) and `ponder.runs` (resumed and forked runs).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from langchain_core.runnables import RunnableConfig

from ponder.budget import Usage
from ponder.context import RunContext
from ponder.errors import ConfigurationError, PonderError
from ponder.nodes.select import provisional_answer, tally
from ponder.result import RunResult
from ponder.state import Candidate, Status, StopReason, run_error

__all__ = ("ProgressCallback", "drive", "result_from", "traced")

_RESERVED = frozenset({"thread_id", "checkpoint_id", "checkpoint_ns"})
"""Configurable keys ponder sets itself for a run (a user's would redirect its checkpoints)."""
_TAKEN = frozenset({"callbacks", "tags", "metadata", "run_name", "configurable",
                    "max_concurrency"})  # fmt: skip


def traced(
    base: RunnableConfig, user: RunnableConfig | None, *, strategy: str, run_id: str | None
) -> RunnableConfig:
    """Return ``base`` (ponder's config of a run) with the user's tracing config merged in.

    The user's callbacks, tags, metadata, run name, ``max_concurrency`` and configurable
    values are kept; ponder adds the tag ``ponder``, the metadata ``ponder_strategy`` and
    ``ponder_run_id``, and names the run ``ponder:<strategy>`` unless the user named it.
    Every model call of the run inherits them (`ponder.nodes._calls.call_config`).

    Raises:
        ConfigurationError: ``user`` is not a mapping, has keys ponder cannot take
            (``recursion_limit`` is the strategy's), or configurable keys ponder sets itself
            (``thread_id``, ``checkpoint_id``, ``checkpoint_ns``).

    Example:
        >>> config = traced({"recursion_limit": 40}, {"tags": ["eval"]},
        ...                 strategy="self-consistency", run_id=None)
        >>> config["run_name"], config["tags"], config["metadata"]["ponder_strategy"]
        ('ponder:self-consistency', ['eval', 'ponder'], 'self-consistency')
    """
    user = {} if user is None else user
    if not isinstance(user, Mapping):
        raise ConfigurationError(f"config must be a RunnableConfig (a dict), got {user!r}")
    extra = sorted(set(user) - _TAKEN)
    if extra:
        raise ConfigurationError(
            f"config has {', '.join(map(repr, extra))}, which ponder sets itself or does not "
            f"take; it takes {', '.join(sorted(_TAKEN))}"
        )
    configurable = dict(user.get("configurable") or {})
    clash = sorted(_RESERVED & set(configurable))
    if clash:
        raise ConfigurationError(
            f"config['configurable'] sets {', '.join(map(repr, clash))}, which ponder sets for "
            "each run (pass run_id= to name a persisted run)"
        )
    merged: dict[str, Any] = dict(base)
    merged["configurable"] = {**configurable, **base.get("configurable", {})}
    merged["tags"] = list(dict.fromkeys([*user.get("tags", []), "ponder"]))
    merged["metadata"] = {
        **user.get("metadata", {}), "ponder_strategy": strategy, "ponder_run_id": run_id,
    }  # fmt: skip
    merged["run_name"] = user.get("run_name") or f"ponder:{strategy}"
    for key in ("callbacks", "max_concurrency"):
        if user.get(key) is not None:
            merged[key] = user[key]
    return cast(RunnableConfig, merged)


ProgressCallback = Callable[[str, Candidate], None]
"""Called with (node name, candidate) whenever a node adds or judges a candidate."""

StepCallback = Callable[[Mapping[str, Any]], Awaitable[None]]
"""Called with the state after every step (used to keep the run registry current)."""


async def drive(
    graph: Any,
    inputs: Any,
    *,
    config: RunnableConfig,
    context: RunContext,
    on_progress: ProgressCallback | None = None,
    on_step: StepCallback | None = None,
) -> dict[str, Any]:
    """Run ``graph`` from ``inputs`` (or a resume ``Command``, or ``None``); return its state.

    The state returned is the last one streamed: the final state of a finished run, or the
    state at the interrupt of a paused one.
    """
    final: dict[str, Any] = {}
    seen: dict[str, Candidate] = {}
    stream: Any = graph.astream(inputs, config, context=context, stream_mode=["custom", "values"])
    try:
        async for mode, data in stream:
            if mode == "values":
                final = dict(data)
                if on_step is not None:
                    await on_step(final)
                continue
            if on_progress is None or not isinstance(data, dict):
                continue
            candidate = data.get("candidate") if data.get("ponder") == "candidate" else None
            if candidate is not None and seen.get(candidate["id"]) != candidate:
                seen[candidate["id"]] = candidate  # as drawn, nested strategies' included
                on_progress(data["node"], candidate)
    except PonderError:
        raise  # a user mistake (bad problem, bad options): say so, do not record it
    except Exception as exc:  # a failure inside a node: keep what was gathered
        error = run_error(exc, "graph")
        final = {**final, "errors": [*final.get("errors", []), error], "status": "failed"}
        final.setdefault("stop_reason", "error")
    return final


def result_from(
    values: Mapping[str, Any],
    *,
    strategy: str,
    wall_seconds: float,
    paused: bool = False,
    pause_reason: StopReason = "budget",
    seconds_before: float = 0.0,
    run_id: str | None = None,
) -> RunResult:
    """Build the `RunResult` of a run from its state."""
    ledger = list(values.get("ledger", []))
    candidates = list(values.get("candidates", []))
    status: Status
    if paused:
        answer, status = provisional_answer(candidates), "paused"
    else:
        answer, status = values.get("answer"), values.get("status", "failed")
    total = seconds_before + wall_seconds
    return RunResult(
        answer=answer,
        strategy=strategy,
        status=status,
        stop_reason=pause_reason if paused else values.get("stop_reason"),
        candidates=candidates,
        votes=dict(tally(candidates)) if paused else values.get("votes", {}),
        usage=Usage.from_ledger(ledger, seconds=total),
        ledger=ledger,
        errors=list(values.get("errors", [])),
        wall_seconds=total,
        run_id=run_id,
        plan=values.get("plan"),
    )
