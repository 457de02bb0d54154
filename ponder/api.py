"""`solve` and `asolve`: run a strategy on one problem and get a `RunResult`.

Setting the run up (its context, and for a persisted run its record) is `ponder.setup`'s,
shared with `ponder.runs`; ``DEFAULT_DB`` and `make_context` are re-exported from there.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

from langchain_core.runnables import RunnableConfig

from ponder._sync import run_sync
from ponder.budget import Budget
from ponder.errors import ConfigurationError
from ponder.graphs.registry import StrategyName, compiled, make_config, strategy_spec
from ponder.models.resolve import ModelSpec, resolve_model
from ponder.result import RunResult
from ponder.runner import ProgressCallback, drive, result_from, traced
from ponder.setup import DEFAULT_DB, Db, check_verifier, make_context, start_run
from ponder.verify.extract import Extractor
from ponder.verify.reward import ProcessReward
from ponder.verify.verifier import Verifier

__all__ = (
    "DEFAULT_BUDGET",
    "DEFAULT_DB",
    "ProgressCallback",
    "asolve",
    "make_context",
    "solve",
)

DEFAULT_BUDGET = Budget(tokens=4000)
"""The budget of a run that names none: 4,000 tokens."""


async def asolve(
    problem: str,
    strategy: StrategyName = "self-consistency",
    *,
    budget: Budget | Mapping[str, Any] | None = None,
    model: ModelSpec = None,
    verifier: Verifier | None = None,
    extractor: Extractor | None = None,
    step_scorer: ProcessReward | None = None,
    seed: int = 0,
    call_timeout: float | None = 300.0,
    verifier_timeout: float = 30.0,
    on_progress: ProgressCallback | None = None,
    db: Db | None = None,
    run_id: str | None = None,
    config: RunnableConfig | None = None,
    **options: Any,
) -> RunResult:
    """Solve ``problem`` with ``strategy``, spending at most ``budget``.

    Args:
        problem: The question, as text.
        strategy: A strategy name (see `ponder.graphs.StrategyName`).
        budget: The limits: a `Budget`, or a mapping of its limits (``{"tokens": 500}``);
            `DEFAULT_BUDGET` when ``None``.
        model: A LangChain chat model or a model spec (see `ponder.models.resolve_model`);
            the embedded SmolLM2 when ``None``.
        verifier: Judges candidates (needed by ``best-of-n``).
        extractor: Turns a candidate's text into an answer; by default the final
            number after the stated arithmetic is recomputed
            (`ponder.verify.extract_repaired_number`).
        step_scorer: A process reward that scores tree-search steps (instead of the value
            prompt).
        seed: Base sampling seed; the same seed repeats a run.
        call_timeout: Seconds one model call may take.
        verifier_timeout: Seconds one verification may take (the candidate is then
            unverified; a verifier that never returns is abandoned, not waited for).
        on_progress: Called as candidates are drawn and judged.
        db: Where to persist the run: a database URL for ponder's own saver
            (``sqlite+aiosqlite:///ponder.db``, ``postgresql+asyncpg://...``), a URL naming
            one of LangGraph's savers (``langgraph+sqlite:///runs.db``,
            ``langgraph+postgres://...``), or any LangGraph checkpoint saver object
            (``InMemorySaver()``, an ``AsyncSqliteSaver``, ``AsyncPostgresSaver``, ...;
            yours to close). The run is checkpointed after every step, listed by
            `ponder.runs.alist_runs`, and pauses (``status == "paused"``) instead of ending
            when the budget runs out, to be resumed with `ponder.runs.aresume` (same ``db``).
            See `ponder.stores`.
        run_id: The persisted run's id (a fresh one when ``None``).
        config: A LangChain ``RunnableConfig`` for tracing: its callbacks, tags, metadata
            and run name reach the run and every model call it makes, each call named
            ``<node>:<candidate>`` with ponder's metadata (`ponder.runner.traced`).
        **options: The strategy's options (for example ``max_samples=5``, ``n=8``).

    Returns:
        The answer, every candidate, the votes or scores, and the spend. A model that fails
        mid-run gives ``status == "failed"`` with the candidates gathered before.

    Raises:
        ConfigurationError: The problem (empty, or not valid text), budget, strategy, seed,
            options or model are not usable.
    """
    if not isinstance(problem, str) or not problem.strip():
        raise ConfigurationError("the problem is empty: give the question to solve as text")
    try:
        problem.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate: no model, no store can take it
        raise ConfigurationError(
            f"the problem is not valid text: {problem[exc.start : exc.end]!r} at position "
            f"{exc.start} is a lone surrogate (undecodable input?); give it as UTF-8 text"
        ) from exc
    spec = strategy_spec(strategy)
    settings = make_config(spec, options)
    budget = DEFAULT_BUDGET if budget is None else Budget.from_limits(budget)
    check_verifier(spec, verifier)
    persist_because = spec.needs_persistence(settings)
    if persist_because is not None and db is None:
        raise ConfigurationError(f"{persist_because}, which needs a persisted run: pass db=...")
    chat_model = resolve_model(model)
    context = make_context(
        chat_model, verifier=verifier, extractor=extractor, step_scorer=step_scorer,
        seed=seed, call_timeout=call_timeout, persisted=db is not None,
        verifier_timeout=verifier_timeout,
    )  # fmt: skip
    inputs = {"problem": problem, "budget": budget.to_limits()}
    run_id = run_id or (None if db is None else uuid.uuid4().hex[:12])
    trace = traced({"recursion_limit": settings.recursion_limit}, config, strategy=spec.name,
                   run_id=run_id)  # fmt: skip
    if db is None:
        values = await drive(
            compiled(spec.name, settings), inputs, context=context, on_progress=on_progress,
            config=trace,
        )  # fmt: skip
        return result_from(values, strategy=spec.name, wall_seconds=context.elapsed())
    try:
        stored_options = json.loads(json.dumps(options))
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            "a persisted run keeps its options as plain data: pass prompts by name "
            f"(prompt='few_shot') and numbers or strings only ({exc})"
        ) from exc
    return await start_run(
        db, run_id or uuid.uuid4().hex[:12], spec=spec, config=settings, inputs=inputs,
        options=stored_options, context=context,
        model_spec=model if isinstance(model, str) or model is None else None,
        on_progress=on_progress, created_at=time.time(), parent_run_id=None, trace=config,
    )  # fmt: skip


def solve(
    problem: str,
    strategy: StrategyName = "self-consistency",
    *,
    budget: Budget | Mapping[str, Any] | None = None,
    model: ModelSpec = None,
    verifier: Verifier | None = None,
    extractor: Extractor | None = None,
    step_scorer: ProcessReward | None = None,
    seed: int = 0,
    call_timeout: float | None = 300.0,
    verifier_timeout: float = 30.0,
    on_progress: ProgressCallback | None = None,
    db: Db | None = None,
    run_id: str | None = None,
    config: RunnableConfig | None = None,
    **options: Any,
) -> RunResult:
    """Solve ``problem``: the sync twin of `asolve`, with the same arguments.

    Example:
        >>> import ponder
        >>> budget = ponder.Budget(tokens=2000)
        >>> result = ponder.solve("What is 17 + 25?", budget=budget)  # doctest: +SKIP
        >>> result.answer  # doctest: +SKIP
        '42'
    """
    return run_sync(
        asolve(
            problem,
            strategy,
            budget=budget,
            model=model,
            verifier=verifier,
            extractor=extractor,
            step_scorer=step_scorer,
            seed=seed,
            call_timeout=call_timeout,
            verifier_timeout=verifier_timeout,
            on_progress=on_progress,
            db=db,
            run_id=run_id,
            config=config,
            **options,
        ),
        name="solve",
    )
