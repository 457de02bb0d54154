"""The pause node: stop a persisted run whose budget ran out, and take a top-up to go on.

A strategy routes here instead of ending when its budget cannot afford the next step and the
run is persisted (``RunContext.pause_on_budget``). The node raises LangGraph's ``interrupt``,
so the run's checkpoint records it as paused; ``ponder.aresume(run_id, add_tokens=...)``
answers the interrupt with the larger budget, and the strategy carries on from the step it
could not afford, as if the budget had been larger from the start.
"""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.types import interrupt

from ponder.budget import BudgetLimits
from ponder.errors import ConfigurationError
from ponder.state import RunState

__all__ = ("PauseRequest", "TopUp", "pause")


class PauseRequest(TypedDict):
    """What a paused run asks for (the interrupt's value)."""

    reason: str
    """Why it paused: ``budget``."""
    budget: BudgetLimits
    """The limits it ran out of."""


class TopUp(TypedDict):
    """The answer that resumes a paused run."""

    budget: BudgetLimits
    """The new, larger limits (totals for the whole run, not increments)."""
    seconds_before: float
    """Wall seconds the run had spent before this session."""


def pause(state: RunState) -> dict[str, Any]:
    """Interrupt the run until a top-up arrives; then clear the stop and take the budget."""
    answer = interrupt(PauseRequest(reason="budget", budget=state["budget"]))
    if not isinstance(answer, dict) or "budget" not in answer:
        raise ConfigurationError(f"a paused run resumes with a TopUp, got {answer!r}")
    return {
        "budget": answer["budget"],
        "seconds_before": answer.get("seconds_before", state.get("seconds_before", 0.0)),
        "stop_reason": None,
        "status": "running",
    }
