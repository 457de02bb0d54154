"""The prepare node: check the problem and set a run's starting state."""

from __future__ import annotations

from typing import Any

from ponder.budget import Budget
from ponder.errors import ConfigurationError
from ponder.state import RunState

__all__ = ("prepare",)


def prepare(state: RunState) -> dict[str, Any]:
    """Validate the input and initialise the output keys of a strategy run.

    The budget may come as `ponder.budget.BudgetLimits`, a partial mapping
    (``{"tokens": 500}``) or a `ponder.Budget`; it is stored in its full plain form.

    Raises:
        ConfigurationError: The problem is missing or empty, or the budget is missing or
            not a budget.
    """
    problem = state.get("problem")
    if not isinstance(problem, str) or not problem.strip():
        raise ConfigurationError("the problem is empty: give the question to solve as text")
    if "budget" not in state:
        raise ConfigurationError(
            "the run state has no budget; pass one, e.g. {'tokens': 2000} or Budget(tokens=2000)"
        )
    return {
        "budget": Budget.from_limits(state["budget"]).to_limits(),
        "answer": None,
        "votes": {},
        "status": "running",
        "stop_reason": None,
        "seconds_before": state.get("seconds_before", 0.0),
    }
