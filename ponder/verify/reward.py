"""Reward models: user scorers for whole answers (outcome) or for reasoning steps (process).

- An `OutcomeReward` scores a full solution: ``(problem, solution) -> float in [0, 1]``.
  `outcome_verifier` turns one into a verifier for any strategy that verifies.
- A `ProcessReward` scores the newest step of a partial solution given the steps before it:
  ``(problem, steps) -> float in [0, 1]``. Tree search uses it (``RunContext.step_scorer``)
  in place of the value prompt, so no model call is spent on values.

Both may be sync or async.

Example:
    >>> verifier = outcome_verifier(lambda problem, solution: 1.0 if "7" in solution else 0.0)
    >>> import asyncio
    >>> asyncio.run(verifier("3 + 4 =", {"text": "It is 7."})).score
    1.0
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Protocol

from ponder._threads import in_daemon_thread
from ponder.verify.verifier import Verdict, Verifier

__all__ = ("OutcomeReward", "ProcessReward", "outcome_verifier", "score_steps")


class OutcomeReward(Protocol):
    """Scores a full solution."""

    def __call__(self, problem: str, solution: str, /) -> float | Awaitable[float]:
        """Return a score in [0, 1]."""
        ...


class ProcessReward(Protocol):
    """Scores the newest step of a partial solution."""

    def __call__(self, problem: str, steps: Sequence[str], /) -> float | Awaitable[float]:
        """Return a score in [0, 1] for ``steps[-1]`` given the steps before it."""
        ...


def outcome_verifier(reward: OutcomeReward) -> Verifier:
    """Return a verifier that scores a candidate's text with ``reward``."""

    async def verify(problem: str, candidate: Mapping[str, Any], /) -> Verdict:
        value = await _call(reward, problem, str(candidate.get("text", "")))
        return Verdict(score=float(value), reason="outcome reward")

    return verify


async def score_steps(reward: ProcessReward, problem: str, steps: Sequence[str]) -> float:
    """Call a process reward, sync or async, and return its score."""
    return float(await _call(reward, problem, list(steps)))


async def _call(reward: Any, *args: Any) -> Any:
    """Await an async reward; run a sync one in a daemon thread (its timeout can fire)."""
    if inspect.iscoroutinefunction(reward) or inspect.iscoroutinefunction(
        getattr(reward, "__call__", None)  # noqa: B004 - async callable objects
    ):
        return await reward(*args)
    value = await in_daemon_thread(reward, *args)
    return await value if inspect.isawaitable(value) else value
