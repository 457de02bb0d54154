"""The prepare node: check the problem and set a run's starting state."""

from __future__ import annotations

import time
from typing import Any

from langchain_core.runnables import RunnableConfig

from ponder.budget import Budget
from ponder.errors import ConfigurationError
from ponder.events import nested as runs_nested
from ponder.state import RunState

__all__ = ("prepare",)

_NO_CONFIG: RunnableConfig = {}


def prepare(state: RunState, config: RunnableConfig = _NO_CONFIG) -> dict[str, Any]:
    """Validate the input and initialise the output keys of a strategy run.

    The budget may come as `ponder.budget.BudgetLimits`, a partial mapping
    (``{"tokens": 500}``) or a `ponder.Budget`; it is stored in its full plain form. The
    run's clock starts here (``started_at``), unless the strategy is nested in a graph that
    gives its own start.

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
        "started_at": _started_at(state, config),
    }


def _started_at(state: RunState, config: RunnableConfig) -> float:
    nested = runs_nested(config)
    given = state.get("started_at")
    return given if nested and isinstance(given, (int, float)) else time.time()
