"""The plan node of the adaptive strategy: how many tokens a problem gets, and which phases.

A `PlanPolicy` grants a problem ``min(difficulty x tokens_per_difficulty, what remains)``
tokens (at least ``min_allotment``) and lists the phases that allotment affords: ``attempts``
always, ``refine`` from ``refine_from`` tokens, ``search`` from ``search_from`` tokens. The
node writes the plan and sets the grant as the ``phase_limit`` every nested strategy obeys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langgraph.runtime import Runtime

from ponder.budget import Budget
from ponder.context import RunContext, context_of, usage_of
from ponder.state import Plan, RunState

__all__ = ("PHASES", "PlanPolicy", "plan_node")

PHASES = ("attempts", "refine", "search")
"""The adaptive strategy's phases, in the order they run."""


@dataclass(frozen=True, kw_only=True, slots=True)
class PlanPolicy:
    """How the plan grants tokens by difficulty (see the module docstring)."""

    tokens_per_difficulty: int
    """Tokens granted per unit of difficulty (difficulty is in [0, 1])."""
    min_allotment: int
    """Tokens granted however easy the problem looks."""
    refine_from: int
    """Allotment from which critique-and-refine is in the plan."""
    search_from: int
    """Allotment from which tree search is in the plan."""

    def plan(self, difficulty: float, budget: Budget, spent: int) -> Plan:
        """Return the plan for a problem of this difficulty, ``spent`` tokens into the run.

        Example:
            >>> policy = PlanPolicy(tokens_per_difficulty=6000, min_allotment=1500,
            ...                     refine_from=2000, search_from=3000)
            >>> policy.plan(0.5, Budget(tokens=10_000), 0)["phases"]
            ['attempts', 'refine', 'search']
        """
        wanted = max(self.min_allotment, round(difficulty * self.tokens_per_difficulty))
        left = None if budget.tokens is None else budget.tokens - spent
        allotment = wanted if left is None else max(0, min(wanted, left))
        phases = ["attempts"]
        if allotment >= self.refine_from:
            phases.append("refine")
        if allotment >= self.search_from:
            phases.append("search")
        return Plan(difficulty=difficulty, allotment=allotment, phases=phases)


def plan_node(policy: PlanPolicy) -> Any:
    """Return the node that makes the plan and sets the phase limit."""

    def plan(state: RunState, *, runtime: Runtime[RunContext]) -> dict[str, Any]:
        budget, usage = usage_of(state, context_of(runtime.context))
        if state.get("plan") is not None:
            # Planning again, after a top-up: the phase limit in the state is this node's
            # own earlier grant, made for the old budget; plan within the new one.
            budget = Budget.from_limits(state["budget"])
        made = policy.plan(state.get("difficulty") or 0.0, budget, usage.tokens)
        phase = budget.to_limits()
        phase["tokens"] = usage.tokens + made["allotment"]
        return {"plan": made, "phase_limit": phase}

    return plan
