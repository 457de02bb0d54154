"""`solve` and `asolve`: run a strategy on one problem and get a `RunResult`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ponder._sync import run_sync
from ponder.budget import Budget, Usage
from ponder.context import RunContext
from ponder.errors import ConfigurationError
from ponder.graphs.registry import compiled, make_config, strategy_spec
from ponder.models.resolve import ModelSpec, prompt_style_of, resolve_model
from ponder.result import RunResult
from ponder.state import Candidate
from ponder.verify.extract import Extractor, extract_number
from ponder.verify.reward import ProcessReward
from ponder.verify.verifier import Verifier

__all__ = ("DEFAULT_BUDGET", "ProgressCallback", "asolve", "solve")

DEFAULT_BUDGET = Budget(tokens=4000)
"""The budget of a run that names none: 4,000 tokens."""

ProgressCallback = Callable[[str, Candidate], None]
"""Called with (node name, candidate) whenever a node adds or judges a candidate."""


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
    on_progress: ProgressCallback | None = None,
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
        on_progress: Called as candidates are drawn and judged.
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
    if verifier is not None and not callable(verifier):
        raise ConfigurationError("verifier must be callable: (problem, candidate) -> score")
    if spec.needs_verifier and verifier is None:
        raise ConfigurationError(
            f"strategy {spec.name!r} needs a verifier, for example "
            "verifier=ponder.ExpectedAnswer('42') or any (problem, candidate) -> score"
        )
    if extractor is not None and not callable(extractor):
        raise ConfigurationError("extractor must be callable: (text) -> answer or None")
    chat_model = resolve_model(model)
    context = RunContext(
        model=chat_model,
        verifier=verifier,
        extractor=extractor or extract_number,
        step_scorer=step_scorer,
        prompt_style=prompt_style_of(chat_model),
        seed=seed,
        call_timeout=call_timeout,
    )
    graph = compiled(spec.name, config)
    final: dict[str, Any] = {}
    stream: Any = graph.astream(
        {"problem": problem, "budget": budget.to_limits()},
        context=context,
        config={"recursion_limit": config.recursion_limit},
        stream_mode=["updates", "values"],
    )
    async for mode, data in stream:
        if mode == "values":
            final = dict(data)
        elif on_progress is not None:
            for node, update in data.items():
                for candidate in (update or {}).get("candidates", []):
                    on_progress(node, candidate)
    wall = context.elapsed()
    ledger = final.get("ledger", [])
    return RunResult(
        answer=final.get("answer"),
        strategy=spec.name,
        status=final.get("status", "failed"),
        stop_reason=final.get("stop_reason"),
        candidates=final.get("candidates", []),
        votes=final.get("votes", {}),
        usage=Usage.from_ledger(ledger, seconds=wall),
        ledger=ledger,
        errors=final.get("errors", []),
        wall_seconds=wall,
    )


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
    on_progress: ProgressCallback | None = None,
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
            on_progress=on_progress,
            **options,
        ),
        name="solve",
    )
