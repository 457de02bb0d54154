"""Running one node in a graph of its own, for the node tests."""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from ponder.budget import Budget
from ponder.context import RunContext
from ponder.state import RunState
from ponder.testing import ScriptedChatModel


async def run_node(node: Any, state: dict[str, Any], model: ScriptedChatModel, **ctx: Any) -> Any:
    """Run ``node`` once from ``state`` (a problem and a 5,000-token budget by default)."""
    graph = StateGraph(RunState, context_schema=RunContext)
    graph.add_node("node", node)
    graph.add_edge(START, "node")
    graph.add_edge("node", END)
    base = {"problem": "3 + 4 =", "budget": Budget(tokens=5000).to_limits()}
    compiled: Any = graph.compile()
    return await compiled.ainvoke({**base, **state}, context=RunContext(model=model, **ctx))


def runtime(context: RunContext) -> Any:
    """A stand-in for LangGraph's runtime, for calling a node or a router directly."""

    class _Runtime:
        def __init__(self) -> None:
            self.context = context

    return _Runtime()
