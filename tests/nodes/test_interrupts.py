from __future__ import annotations

from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command

from ponder.budget import Budget
from ponder.nodes import TopUp, approve_node, pause
from ponder.state import RunState


def _graph(node: Any, **kwargs: Any) -> Any:
    graph = StateGraph(RunState)
    graph.add_node("wait", node, **kwargs)
    graph.add_node("phase", lambda state: {"answer": "ran"})
    graph.add_node("select", lambda state: {"status": "done"})
    graph.add_edge(START, "wait")
    graph.add_edge("phase", END)
    graph.add_edge("select", END)
    return graph


def test_pause_takes_the_top_up_budget() -> None:
    graph = _graph(pause)
    graph.add_edge("wait", "select")
    app = graph.compile(checkpointer=InMemorySaver())
    thread: Any = {"configurable": {"thread_id": "t"}}
    app.invoke({"problem": "q", "budget": Budget(tokens=10).to_limits()}, thread)
    assert app.get_state(thread).tasks[0].interrupts[0].value["reason"] == "budget"
    bigger = TopUp(budget=Budget(tokens=99).to_limits(), seconds_before=1.5)
    out = app.invoke(Command(resume=bigger), thread)
    assert out["budget"]["tokens"] == 99 and out["seconds_before"] == 1.5


def test_approval_runs_the_phase_or_skips_it() -> None:
    for answer, expected in ((True, "ran"), (False, None)):
        app = _graph(approve_node("phase"), destinations=("phase", "select")).compile(
            checkpointer=InMemorySaver()
        )
        thread: Any = {"configurable": {"thread_id": f"t{answer}"}}
        app.invoke({"problem": "q", "budget": Budget(tokens=10).to_limits()}, thread)
        out = app.invoke(Command(resume=answer), thread)
        assert out.get("answer") == expected
