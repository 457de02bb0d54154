"""Every strategy runs under invoke/stream and ainvoke/astream, alone and inside a user's graph."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

import ponder
from ponder.context import RunContext
from ponder.graphs import StrategyName, build_strategy
from ponder.persistence import SqlCheckpointer
from ponder.state import RunState
from ponder.testing import ScriptedChatModel

STRATEGIES = list(get_args(StrategyName))


class AgentState(RunState, total=False):
    """A user's agent state: its own key beside the ones a strategy reads and writes."""

    question: str
    """The user's question."""


def model() -> ScriptedChatModel:
    def reply(messages: list[Any], kwargs: dict[str, Any]) -> str:
        text = messages[-1].text
        if "How likely" in text:
            return "Score: 7"
        if "Python program" in messages[0].text:
            return "```python\nprint(3 + 4)\n```"
        if "critique" in text.lower() or "mistake" in text.lower():
            return "No errors."
        return "3 + 4 = 7. The answer is 7."

    return ScriptedChatModel(reply_fn=reply)


def context() -> RunContext:
    return RunContext(model=model(), verifier=ponder.ExpectedAnswer("7"))


def ask(state: AgentState) -> dict[str, Any]:
    return {"problem": state["question"], "budget": ponder.Budget(tokens=6000).to_limits()}


def agent(strategy: str, saver: BaseCheckpointSaver[Any]) -> Any:
    graph = StateGraph(AgentState, context_schema=RunContext)
    graph.add_node("ask", ask)
    graph.add_node("think", build_strategy(strategy))
    graph.add_edge(START, "ask")
    graph.add_edge("ask", "think")
    graph.add_edge("think", END)
    return graph.compile(checkpointer=saver)


@pytest.fixture(params=["memory", "sql"])
def saver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BaseCheckpointSaver[Any]]:
    if request.param == "memory":
        yield InMemorySaver()
        return
    with SqlCheckpointer.from_url(f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}") as sql:
        yield sql


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_runs_sync_inside_a_user_graph(
    strategy: str, saver: BaseCheckpointSaver[Any]
) -> None:
    app = agent(strategy, saver)
    thread: Any = {"configurable": {"thread_id": f"sync-{strategy}"}, "recursion_limit": 100}
    out = app.invoke({"question": "What is 3 + 4?"}, thread, context=context())
    assert out["answer"] == "7" and out["status"] == "done"
    assert out["ledger"] and len(out["ledger"]) == len(
        {e["id"] for e in out["ledger"]}
    )  # every call charged once
    streamed = list(
        app.stream({"question": "What is 3 + 4?"}, {**thread, "configurable": {"thread_id": "s"}},
                   context=context(), stream_mode="values")
    )  # fmt: skip
    assert streamed[-1]["answer"] == "7"


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_every_strategy_runs_async_inside_a_user_graph(
    strategy: str, saver: BaseCheckpointSaver[Any]
) -> None:
    app = agent(strategy, saver)
    thread: Any = {"configurable": {"thread_id": f"async-{strategy}"}, "recursion_limit": 100}
    out = await app.ainvoke({"question": "What is 3 + 4?"}, thread, context=context())
    assert out["answer"] == "7" and out["status"] == "done"
    streamed = [
        values
        async for values in app.astream(
            {"question": "What is 3 + 4?"},
            {**thread, "configurable": {"thread_id": "s"}},
            context=context(),
            stream_mode="values",
        )  # fmt: skip
    ]
    assert streamed[-1]["answer"] == "7"


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_graph_runs_sync_on_its_own(strategy: str) -> None:
    graph = build_strategy(strategy, checkpointer=InMemorySaver())
    thread: Any = {"configurable": {"thread_id": "alone"}, "recursion_limit": 100}
    out = graph.invoke(
        {"problem": "What is 3 + 4?", "budget": ponder.Budget(tokens=6000).to_limits()},
        thread, context=context(),
    )  # fmt: skip
    assert out["answer"] == "7"
    assert graph.get_state(thread).values["answer"] == "7"
