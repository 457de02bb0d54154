"""The shape of a node, as LangGraph calls it (``runtime`` is passed by keyword)."""

from __future__ import annotations

from typing import Any, Protocol

from langgraph.runtime import Runtime

from ponder.context import RunContext
from ponder.state import RunState

__all__ = ("Node",)


class Node(Protocol):
    """A graph node: reads the state and the run context, returns a state update.

    Async nodes return an awaitable of the update.
    """

    def __call__(self, state: RunState, *, runtime: Runtime[RunContext]) -> Any:
        """Return the state update (or an awaitable of it)."""
        ...
