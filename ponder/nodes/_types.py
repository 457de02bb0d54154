"""The shape of a node, as LangGraph calls it (``runtime`` is passed by keyword)."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from langgraph.runtime import Runtime

from ponder.context import RunContext
from ponder.state import RunState

__all__ = ("BranchNode", "Node")


class Node(Protocol):
    """A graph node: reads the state and the run context, returns a state update.

    Async nodes return an awaitable of the update.
    """

    def __call__(self, state: RunState, *, runtime: Runtime[RunContext]) -> Any:
        """Return the state update (or an awaitable of it)."""
        ...


TaskT = TypeVar("TaskT", contravariant=True)


class BranchNode(Protocol[TaskT]):
    """A node that receives a ``Send`` payload (a task) instead of the state."""

    def __call__(self, state: TaskT, *, runtime: Runtime[RunContext]) -> Any:
        """Return the state update (or an awaitable of it)."""
        ...
