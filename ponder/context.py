"""The run context: what every node needs besides the state.

LangGraph passes it to nodes and routers as ``runtime.context`` (the graph's
``context_schema``). It holds live objects (the model, the verifier), never stored in a
checkpoint; everything a resumed run must see again lives in the state instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from langchain_core.language_models import BaseChatModel

from ponder.budget import Budget, CallPlan, Usage, plan_call
from ponder.models.traits import ModelTraits, traits_of
from ponder.prompts import PromptStyle
from ponder.state import RunState
from ponder.verify.extract import Extractor, extract_number
from ponder.verify.reward import ProcessReward
from ponder.verify.verifier import Verifier

__all__ = ("RunContext", "seconds_left", "usage_of")


@dataclass(frozen=True, kw_only=True, slots=True)
class RunContext:
    """Dependencies and settings of one run, shared by every node of every nested strategy.

    Example:
        >>> from ponder.testing import ScriptedChatModel
        >>> ctx = RunContext(model=ScriptedChatModel(replies=["The answer is 4."]))
        >>> ctx.prompt_style
        'chat'
    """

    model: BaseChatModel
    """The chat model every node calls."""
    verifier: Verifier | None = None
    """Judges candidates, for the strategies that verify."""
    step_scorer: ProcessReward | None = None
    """Scores partial solutions in tree search instead of the value prompt."""
    extractor: Extractor = extract_number
    """Turns a candidate's text into its answer."""
    prompt_style: PromptStyle = "chat"
    """How `model` wants its prompts (see `ponder.models.prompt_style_of`)."""
    seed: int = 0
    """Base sampling seed; candidate ``i`` is sampled with ``seed + i``, so reruns repeat."""
    call_timeout: float | None = 300.0
    """Seconds one model call may take before it is cut off (``None``: no limit)."""
    verifier_timeout: float = 30.0
    """Seconds one verification may take before the candidate is marked unverified."""
    max_concurrent_calls: int = 16
    """Most model calls one node has in flight at once (the samples of a step run
    concurrently; the embedded model decodes them together in one batch)."""
    min_tokens: int = 32
    """The smallest output cap worth a call when the budget would lower it."""
    min_seconds: float = 0.5
    """The least wall time worth starting a call with; below it the budget refuses."""
    pause_on_budget: bool = False
    """Pause (interrupt) instead of ending when the budget runs out; needs a checkpointer."""
    started: float = field(default_factory=time.monotonic)
    """`time.monotonic` when this session of the run started."""
    traits: ModelTraits = field(init=False, repr=False, compare=False)
    """How `model` is called (worked out once, from the model; see `ponder.models.traits`)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "traits", traits_of(self.model))

    def elapsed(self) -> float:
        """Seconds since this session of the run started."""
        return time.monotonic() - self.started

    def plan(
        self, budget: Budget, usage: Usage, *, prompt_tokens: int, max_tokens: int
    ) -> CallPlan:
        """Plan a call of this run within ``budget``: `ponder.budget.plan_call`.

        The run's smallest useful cap, call timeout and least useful wall time apply.
        """
        return plan_call(
            budget,
            usage,
            prompt_tokens=prompt_tokens,
            max_tokens=max_tokens,
            min_tokens=self.min_tokens,
            call_timeout=self.call_timeout,
            min_seconds=self.min_seconds,
        )


def seconds_left(state: RunState, context: RunContext) -> float | None:
    """Wall seconds the budget has left, or ``None`` when it sets no time limit."""
    budget, usage = usage_of(state, context)
    return budget.remaining(usage).seconds


def usage_of(state: RunState, context: RunContext) -> tuple[Budget, Usage]:
    """Return the run's budget and what it has spent, read from the state.

    Where an enclosing strategy set a phase limit, the budget is the tighter of the two.
    """
    seconds = state.get("seconds_before", 0.0) + context.elapsed()
    budget = Budget.from_limits(state["budget"])
    phase = state.get("phase_limit")
    if phase is not None:
        budget = budget.tighter(Budget.from_limits(phase))
    return budget, Usage.from_ledger(state.get("ledger", []), seconds=seconds)
