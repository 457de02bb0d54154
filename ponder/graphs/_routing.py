"""Budget checks shared by the strategies' routing edges."""

from __future__ import annotations

from typing import Literal

from ponder.budget import plan_call
from ponder.context import RunContext, usage_of
from ponder.state import RunState, StopReason

__all__ = ("EndRoute", "end_route", "refusing_limit")

EndRoute = Literal["pause", "select"]
"""How a strategy ends: ``select`` its answer, or ``pause`` a persisted run out of budget."""


def end_route(reason: StopReason, context: RunContext) -> EndRoute:
    """Return ``pause`` when the budget stopped a run that can be resumed, else ``select``."""
    return "pause" if reason == "budget" and context.pause_on_budget else "select"


def refusing_limit(state: RunState, context: RunContext, *, max_tokens: int) -> str | None:
    """Return the budget limit that would refuse another attempt, or ``None`` if it fits.

    The next prompt is assumed as long as the last candidate's (the attempt prompt does not
    change between samples); before the first candidate only the call count and wall time can
    be judged, and the attempt node checks the exact prompt itself.
    """
    budget, usage = usage_of(state, context)
    candidates = state.get("candidates", [])
    prompt_tokens = candidates[-1]["tokens_in"] if candidates else 0
    plan = plan_call(
        budget,
        usage,
        prompt_tokens=prompt_tokens,
        max_tokens=max_tokens,
        min_tokens=context.min_tokens,
        call_timeout=context.call_timeout,
        min_seconds=context.min_seconds,
    )
    return plan.refused_by
