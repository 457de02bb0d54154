"""`solve` and `asolve`: run a strategy on one problem and get a `RunResult`."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from langchain_core.language_models import BaseChatModel

from ponder._sync import run_sync
from ponder.budget import Budget
from ponder.context import RunContext
from ponder.errors import ConfigurationError
from ponder.graphs.registry import StrategySpec, compiled, make_config, strategy_spec
from ponder.models.resolve import ModelSpec, prompt_style_of, resolve_model
from ponder.result import RunResult
from ponder.runner import ProgressCallback, drive, result_from
from ponder.verify.extract import Extractor, extract_number
from ponder.verify.math import MathAnswer
from ponder.verify.reward import ProcessReward
from ponder.verify.verifier import ExpectedAnswer, Verifier

__all__ = (
    "DEFAULT_BUDGET",
    "DEFAULT_DB",
    "ProgressCallback",
    "asolve",
    "make_context",
    "solve",
    "verifier_record",
)

DEFAULT_BUDGET = Budget(tokens=4000)
"""The budget of a run that names none: 4,000 tokens."""

DEFAULT_DB = "sqlite+aiosqlite:///ponder.db"
"""Where `ponder solve` keeps runs: ``ponder.db`` in the working directory."""


def verifier_record(verifier: Verifier | None) -> dict[str, Any] | None:
    """Describe a verifier as plain data when it can be rebuilt from that, for the registry."""
    if verifier is None:
        return None
    if isinstance(verifier, ExpectedAnswer):
        return {"expected": verifier.expected, "kind": verifier.kind}
    if isinstance(verifier, MathAnswer):
        return {"math": verifier.expected}
    return {"custom": type(verifier).__name__}


def check_verifier(spec: StrategySpec, verifier: Verifier | None) -> None:
    """Refuse a verifier that is not callable, or a missing one the strategy needs."""
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
    """Build the run context (persisted runs pause, instead of ending, when out of budget)."""
    if extractor is not None and not callable(extractor):
        raise ConfigurationError("extractor must be callable: (text) -> answer or None")
    if call_timeout is not None and (
        isinstance(call_timeout, bool)
        or not isinstance(call_timeout, (int, float))
        or not call_timeout > 0
    ):
        raise ConfigurationError(
            f"call_timeout must be positive seconds or None, got {call_timeout!r}"
        )
    return RunContext(
        model=model,
        verifier=verifier,
        extractor=extractor or extract_number,
        step_scorer=step_scorer,
        prompt_style=prompt_style_of(model),
        seed=seed,
        call_timeout=call_timeout,
        verifier_timeout=verifier_timeout,
        pause_on_budget=persisted,
    )


async def asolve(
    problem: str,
    strategy: str = "self-consistency",
    *,
    budget: Budget | None = None,
    model: ModelSpec = None,
    verifier: Verifier | None = None,
    extractor: Extractor | None = None,
    step_scorer: ProcessReward | None = None,
    seed: int = 0,
    call_timeout: float | None = 300.0,
    verifier_timeout: float = 30.0,
    on_progress: ProgressCallback | None = None,
    db: str | None = None,
    run_id: str | None = None,
    **options: Any,
) -> RunResult:
    """Solve ``problem`` with ``strategy``, spending at most ``budget``.

    Args:
        problem: The question, as text.
        strategy: A strategy name (see `ponder.graphs.StrategyName`).
        budget: The limits; `DEFAULT_BUDGET` when ``None``.
        model: A LangChain chat model or a model spec (see `ponder.models.resolve_model`);
            the embedded SmolLM2 when ``None``.
        verifier: Judges candidates (needed by ``best-of-n``).
        extractor: Turns a candidate's text into an answer; numbers by default.
        step_scorer: A process reward that scores tree-search steps (instead of the value
            prompt).
        seed: Base sampling seed; the same seed repeats a run.
        call_timeout: Seconds one model call may take.
        verifier_timeout: Seconds one verification may take (the candidate is then
            unverified; a verifier that never returns is abandoned, not waited for).
        on_progress: Called as candidates are drawn and judged.
        db: A database URL (``sqlite+aiosqlite:///ponder.db``, ``postgresql+asyncpg://...``)
            to persist the run in: it is checkpointed after every step, listed by
            `ponder.runs.alist_runs`, and pauses (``status == "paused"``) instead of ending
            when the budget runs out, to be resumed with `ponder.runs.aresume`.
        run_id: The persisted run's id (a fresh one when ``None``).
        **options: The strategy's options (for example ``max_samples=5``, ``n=8``).

    Returns:
        The answer, every candidate, the votes or scores, and the spend. A model that fails
        mid-run gives ``status == "failed"`` with the candidates gathered before.

    Raises:
        ConfigurationError: The problem, budget, strategy, options or model are not usable.
    """
    if not isinstance(problem, str) or not problem.strip():
        raise ConfigurationError("the problem is empty: give the question to solve as text")
    spec = strategy_spec(strategy)
    config = make_config(spec, options)
    if budget is None:
        budget = DEFAULT_BUDGET
    if not isinstance(budget, Budget):
        raise ConfigurationError(f"budget must be a ponder.Budget, got {type(budget).__name__}")
    check_verifier(spec, verifier)
    if getattr(config, "confirm_before", ()) and db is None:
        raise ConfigurationError(
            "confirm_before pauses the run for approval, which needs a persisted run: pass db=..."
        )
    chat_model = resolve_model(model)
    context = make_context(
        chat_model, verifier=verifier, extractor=extractor, step_scorer=step_scorer,
        seed=seed, call_timeout=call_timeout, persisted=db is not None,
        verifier_timeout=verifier_timeout,
    )  # fmt: skip
    inputs = {"problem": problem, "budget": budget.to_limits()}
    if db is None:
        values = await drive(
            compiled(spec.name, config), inputs, context=context, on_progress=on_progress,
            config={"recursion_limit": config.recursion_limit},
        )  # fmt: skip
        return result_from(values, strategy=spec.name, wall_seconds=context.elapsed())
    try:
        stored_options = json.loads(json.dumps(options))
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            "a persisted run keeps its options as plain data: pass prompts by name "
            f"(prompt='few_shot') and numbers or strings only ({exc})"
        ) from exc
    from ponder.runs import start_run

    return await start_run(
        db, run_id or uuid.uuid4().hex[:12], spec=spec, config=config, inputs=inputs,
        options=stored_options, context=context,
        model_spec=model if isinstance(model, str) or model is None else None,
        verifier=verifier_record(verifier), on_progress=on_progress,
        created_at=time.time(), parent_run_id=None,
    )  # fmt: skip


def solve(
    problem: str,
    strategy: str = "self-consistency",
    *,
    budget: Budget | None = None,
    model: ModelSpec = None,
    verifier: Verifier | None = None,
    extractor: Extractor | None = None,
    step_scorer: ProcessReward | None = None,
    seed: int = 0,
    call_timeout: float | None = 300.0,
    verifier_timeout: float = 30.0,
    on_progress: ProgressCallback | None = None,
    db: str | None = None,
    run_id: str | None = None,
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
            **options,
        ),
        name="solve",
    )
