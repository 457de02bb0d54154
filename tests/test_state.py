from __future__ import annotations

from typing import Any, TypedDict, cast

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

import ponder
from ponder.budget import BudgetLimits
from ponder.context import RunContext
from ponder.errors import CheckpointError
from ponder.graphs import build_best_of_n
from ponder.persistence import StrictSerializer
from ponder.state import RunInput, merge_by_id
from ponder.testing import ScriptedChatModel


async def test_run_state_round_trips_through_the_strict_serializer() -> None:
    graph = build_best_of_n()
    context = RunContext(
        model=ScriptedChatModel(replies=["The answer is 3.", "The answer is 4."]),
        verifier=ponder.ExpectedAnswer("4"),
    )
    final = await graph.ainvoke(
        {"problem": "2+2? ünïcödé ✓", "budget": ponder.Budget(tokens=500).to_limits()},
        context=context,
    )
    serde = StrictSerializer()
    restored = serde.loads_typed(serde.dumps_typed(final))
    assert restored == final
    assert type(restored["candidates"][0]) is dict
    assert restored["candidates"][1]["verdict"] == "accepted"


async def test_checkpointed_state_loads_with_the_same_types() -> None:
    saver = InMemorySaver(serde=StrictSerializer())
    graph = build_best_of_n()
    context = RunContext(
        model=ScriptedChatModel(replies=["The answer is 4."]), verifier=ponder.ExpectedAnswer("4")
    )
    compiled = graph.builder.compile(checkpointer=saver)
    config: RunnableConfig = {"configurable": {"thread_id": "t1"}}
    inputs: RunInput = {"problem": "q", "budget": ponder.Budget(tokens=500).to_limits()}
    live = await compiled.ainvoke(inputs, config, context=context)
    snapshot = await compiled.aget_state(config)
    assert snapshot.values["budget"] == ponder.Budget(tokens=500).to_limits()
    for key in ("candidates", "ledger", "votes", "answer"):
        assert snapshot.values[key] == live[key]
        assert type(snapshot.values[key]) is type(live[key])


def test_strict_serializer_refuses_pickle_and_unknown_tags() -> None:
    serde = StrictSerializer()
    with pytest.raises(CheckpointError, match="pickle"):
        serde.loads_typed(("pickle", b"\x80\x04K\x01."))
    with pytest.raises(CheckpointError):
        serde.loads_typed(("json", b"{}"))
    with pytest.raises(CheckpointError):
        serde.dumps_typed(object())


def test_merge_by_id_replaces_by_id() -> None:
    left = [{"id": "c0", "score": None}, {"id": "c1", "score": None}]
    merged = merge_by_id(cast(Any, left), cast(Any, [{"id": "c1", "score": 0.5}]))
    assert merged == [{"id": "c0", "score": None}, {"id": "c1", "score": 0.5}]


class Outer(TypedDict, total=False):
    problem: str
    budget: BudgetLimits
    answer: str | None


async def test_strategy_is_a_subgraph_of_a_user_graph() -> None:
    strategy = ponder.build_strategy("self-consistency", max_samples=2, agreement=1.0)
    outer = StateGraph(Outer, context_schema=RunContext)
    outer.add_node("think", strategy)
    outer.add_edge(START, "think")
    outer.add_edge("think", END)
    app = outer.compile()
    out = await app.ainvoke(
        {"problem": "q", "budget": ponder.Budget(tokens=500).to_limits()},
        context=RunContext(model=ScriptedChatModel(replies=["The answer is 6."])),
    )
    assert out["answer"] == "6"
