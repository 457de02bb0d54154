"""The interrupt nodes: where a persisted run waits for its user, with LangGraph's ``interrupt``.

- `pause`: a strategy routes here instead of ending when its budget cannot afford the next
  step and the run is persisted (``RunContext.pause_on_budget``). The run's checkpoint records
  it as paused; ``ponder.runs.aresume(run_id, add_tokens=...)`` answers with a `TopUp`, and
  the strategy carries on from the step it could not afford, as if the budget had been larger
  from the start.
- `approve_node`: asks approval before an expensive phase (the adaptive strategy's
  ``confirm_before``); ``aresume(run_id, approve=True)`` runs the phase, ``False`` ends the
  run with what it has.
"""

from __future__ import annotations

import time
from typing import Any, cast

from langgraph.types import Command, interrupt
from typing_extensions import TypedDict

from ponder.budget import BudgetLimits
from ponder.errors import ConfigurationError
from ponder.state import RunState

__all__ = ("ApprovalRequest", "PauseRequest", "TopUp", "approve_node", "pause")


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


class ApprovalRequest(TypedDict):
    """What a run waiting for approval asks (the interrupt's value)."""

    reason: str
    """``approval``."""
    phase: str
    """The phase about to start."""
    allotment: int
    """The tokens the plan grants the problem."""


def pause(state: RunState) -> dict[str, Any]:
    """Interrupt the run until a top-up arrives; then clear the stop and take the budget."""
    answer = interrupt(PauseRequest(reason="budget", budget=state["budget"]))
    if not isinstance(answer, dict) or "budget" not in answer:
        raise ConfigurationError(f"a paused run resumes with a TopUp, got {answer!r}")
    return {
        "budget": answer["budget"],
        "phase_limit": _raised(state.get("phase_limit"), state["budget"], answer["budget"]),
        "seconds_before": answer.get("seconds_before", state.get("seconds_before", 0.0)),
        "started_at": time.time(),
        "stop_reason": None,
        "status": "running",
    }


_LIMITS = ("tokens", "output_tokens", "calls", "seconds", "cost")


def _raised(
    phase: BudgetLimits | None, old: BudgetLimits, new: BudgetLimits
) -> BudgetLimits | None:
    """The phase limit after a top-up from ``old`` to ``new``: raised by the same amounts.

    A phase limit (an enclosing strategy's grant to the phase that ran out) was set within
    the old budget; the top-up goes to that phase, so each of its limits grows by what the
    run's did. A limit the run does not set is left as it was.

    Example:
        >>> old = {"tokens": 1000, "calls": 4}
        >>> _raised({"tokens": 600, "calls": None}, old, {"tokens": 3000, "calls": 4})
        {'tokens': 2600, 'calls': None}
    """
    if phase is None:
        return None
    raised: dict[str, Any] = dict(phase)
    for key in _LIMITS:
        limit, before, after = raised.get(key), old.get(key), new.get(key)
        if limit is not None and before is not None and after is not None:
            raised[key] = limit + (after - before)  # type: ignore[operator]
        elif limit is not None and before is not None and after is None:
            raised[key] = None  # the top-up lifts the run's limit: lift the phase's too
    return cast(BudgetLimits, raised)


def approve_node(phase: str, *, otherwise: str = "select") -> Any:
    """Return a node that asks approval before ``phase``.

    A ``True`` answer goes on to ``phase``; any other goes to ``otherwise`` (the end).
    """

    def approve(state: RunState) -> Command[str]:
        plan = state.get("plan") or {"allotment": 0}
        answer = interrupt(
            ApprovalRequest(reason="approval", phase=phase, allotment=plan["allotment"])
        )
        return Command(goto=phase if answer is True else otherwise)

    approve.__name__ = f"approve_{phase}"
    return approve
