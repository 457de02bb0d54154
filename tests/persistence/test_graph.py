"""Real LangGraph graphs checkpointed through SqlCheckpointer, compared with InMemorySaver."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, interrupt

from tests.persistence.conftest import StoreSpec


class State(TypedDict):
    log: Annotated[list[str], operator.add]
    count: int
    answer: str


class AskState(TypedDict):
    count: int
    answer: str


def build_graph(checkpointer: BaseCheckpointSaver[Any]) -> CompiledStateGraph[Any, Any, Any, Any]:
    """start -> think -> (subgraph: ask, which interrupts) -> finish."""

    def ask(state: AskState) -> dict[str, Any]:
        return {"answer": str(interrupt(f"question after {state['count']} steps"))}

    sub = StateGraph(AskState)
    sub.add_node("ask", ask)
    sub.add_edge(START, "ask")
    sub.add_edge("ask", END)

    builder = StateGraph(State)
    builder.add_node("think", lambda state: {"log": ["think"], "count": state["count"] + 1})
    builder.add_node("sub", sub.compile())
    builder.add_node(
        "finish", lambda state: {"log": [f"finish:{state['answer']}"], "count": state["count"] + 1}
    )
    builder.add_edge(START, "think")
    builder.add_edge("think", "sub")
    builder.add_edge("sub", "finish")
    builder.add_edge("finish", END)
    return builder.compile(checkpointer=checkpointer)


async def run_interrupted(
    first: BaseCheckpointSaver[Any], second: BaseCheckpointSaver[Any]
) -> tuple[dict[str, Any], list[Any]]:
    config: RunnableConfig = {"configurable": {"thread_id": "graph-1"}}
    graph = build_graph(first)
    paused = await graph.ainvoke({"log": ["start"], "count": 0, "answer": ""}, config)
    assert [item.value for item in paused["__interrupt__"]] == ["question after 1 steps"]
    state = await graph.aget_state(config, subgraphs=True)
    assert state.next == ("sub",)
    assert state.tasks[0].state is not None  # the subgraph's own checkpoint, in its namespace
    resumed = build_graph(second)  # as a new process would: a new graph and saver
    result = await resumed.ainvoke(Command(resume="42"), config)
    history = [
        (snapshot.values, snapshot.next, snapshot.metadata and snapshot.metadata.get("step"))
        async for snapshot in resumed.aget_state_history(config)
    ]
    return result, history


async def test_graph_interrupts_and_resumes_through_a_new_saver(store: StoreSpec) -> None:
    async with store.open() as first, store.open() as second:
        result, history = await run_interrupted(first, second)
        namespaces = {
            item.config["configurable"]["checkpoint_ns"] async for item in second.alist(None)
        }
    memory = InMemorySaver()
    expected_result, expected_history = await run_interrupted(memory, memory)
    assert (
        result
        == expected_result
        == {
            "log": ["start", "think", "finish:42"],
            "count": 2,
            "answer": "42",
        }
    )
    assert history == expected_history
    assert "" in namespaces and any(ns.startswith("sub:") for ns in namespaces)


def test_graph_runs_through_the_sync_api(store: StoreSpec) -> None:
    config: RunnableConfig = {"configurable": {"thread_id": "graph-sync"}}
    with store.open() as saver:
        graph = build_graph(saver)
        graph.invoke({"log": [], "count": 0, "answer": ""}, config)
        result = graph.invoke(Command(resume="yes"), config)
        assert result["log"] == ["think", "finish:yes"]
        root: RunnableConfig = {"configurable": {"thread_id": "graph-sync", "checkpoint_ns": ""}}
        assert len(list(graph.get_state_history(config))) == len(list(saver.list(root)))
        assert len(list(saver.list(config))) > len(list(saver.list(root)))  # + the subgraph's


class DeltaState(TypedDict):
    items: Annotated[
        list[str],
        DeltaChannel(lambda state, writes: [*state, *sum(writes, [])], snapshot_frequency=3),
    ]
    total: Annotated[int, operator.add]
    n: int


def build_delta_graph(
    checkpointer: BaseCheckpointSaver[Any],
) -> CompiledStateGraph[Any, Any, Any, Any]:
    def step(state: DeltaState) -> dict[str, Any]:
        return {"items": [f"i{state['n']}"], "total": state["n"], "n": state["n"] + 1}

    builder = StateGraph(DeltaState)
    builder.add_node("step", step)
    builder.add_edge(START, "step")
    builder.add_conditional_edges("step", lambda state: END if state["n"] >= 7 else "step")
    return builder.compile(checkpointer=checkpointer)


async def delta_states(saver: BaseCheckpointSaver[Any]) -> list[dict[str, Any]]:
    graph = build_delta_graph(saver)
    return [
        snapshot.values
        async for snapshot in graph.aget_state_history({"configurable": {"thread_id": "delta"}})
    ]


async def test_delta_channels_rebuild_from_the_saver(store: StoreSpec) -> None:
    config: RunnableConfig = {"configurable": {"thread_id": "delta"}}
    memory = InMemorySaver()
    expected = await build_delta_graph(memory).ainvoke({"items": [], "total": 0, "n": 0}, config)
    async with store.open() as saver:
        result = await build_delta_graph(saver).ainvoke({"items": [], "total": 0, "n": 0}, config)
    assert result == expected == {"items": [f"i{n}" for n in range(7)], "total": 21, "n": 7}
    async with store.open() as saver:  # every historical state rebuilds, in a new saver
        assert await delta_states(saver) == await delta_states(memory)
        graph = build_delta_graph(saver)
        latest = (await graph.aget_state(config)).values
        await saver.aprune(["delta"], strategy="keep_latest")
        assert (await graph.aget_state(config)).values == latest == expected
        # The latest checkpoint holds no snapshot of "items": its chain back to one is kept.
        kept = [item async for item in saver.alist(config)]
        assert "items" not in kept[0].checkpoint["channel_values"]
        assert 1 < len(kept) < len(await delta_states(memory))
