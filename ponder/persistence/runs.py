"""The run registry's record: what ponder remembers about each persisted run.

A run is one LangGraph thread (``thread_id == run_id``) plus one row in ``ponder_runs``
holding what is needed to list it and to resume it: the strategy and its options, the
problem, the model spec, how it is verified, its budget, and its latest status and spend.
"""

from __future__ import annotations

from typing import Any, TypedDict

from ponder.budget import BudgetLimits

__all__ = ("RunRecord",)


class RunRecord(TypedDict):
    """One persisted run."""

    run_id: str
    """The run's id (also its LangGraph thread id)."""
    strategy: str
    """The strategy's name."""
    problem: str
    """The problem."""
    options: dict[str, Any]
    """The strategy's options (plain data)."""
    model: str | None
    """The model spec string, ``None`` for the default, or ``object:<class>`` for a model
    given as an object (which is not stored: pass it again to resume)."""
    verifier: dict[str, Any] | None
    """How candidates are verified, when it can be stored (``{"expected": "42", "kind":
    "number"}``); ``None`` for none or for a verifier given as code (pass it to resume)."""
    budget: BudgetLimits
    """The run's current limits."""
    seed: int
    """The run's base sampling seed."""
    status: str
    """``running``, ``paused``, ``done`` or ``failed``."""
    stop_reason: str | None
    """Why the strategy stopped."""
    answer: str | None
    """The (provisional, while paused) answer."""
    tokens: int
    """Tokens spent so far."""
    calls: int
    """Model calls so far."""
    seconds: float
    """Wall seconds spent so far, all sessions together."""
    parent_run_id: str | None
    """The run this one was forked from, if any."""
    created_at: float
    """When the run started (Unix time)."""
    updated_at: float
    """When the record last changed (Unix time)."""
