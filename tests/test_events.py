"""Progress as ``custom`` stream events, nested strategies included, without subgraphs=True."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph

import ponder
from ponder.context import RunContext
from ponder.events import events_of
from ponder.graphs import build_strategy
from ponder.state import RunState
from ponder.testing import ScriptedChatModel


def model() -> ScriptedChatModel:
    def reply(messages: list[Any], kwargs: dict[str, Any]) -> str:
        text = messages[-1].text
        if "How likely" in text:
            return "Score: 3"
        if "critique" in text.lower() or "mistake" in text.lower():
            return "The sum is wrong."
        return "3 and 4 make 8. The answer is 8."  # wrong, with no stated sum to repair

    return ScriptedChatModel(reply_fn=reply)


class AgentState(RunState, total=False):
    """A user's graph around a strategy."""


def agent(strategy: str, **options: Any) -> Any:
    graph = StateGraph(AgentState, context_schema=RunContext)
    graph.add_node("think", build_strategy(strategy, **options))
    graph.add_edge(START, "think")
    graph.add_edge("think", END)
    return graph.compile()


INPUTS: Any = {"problem": "What is 3 + 4?", "budget": {"tokens": 4000}}


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_nested_strategy_streams_its_candidates_and_vote_in_custom_mode(
    mode: str,
) -> None:
    app = agent("self-consistency", max_samples=3)
    context = RunContext(model=model())
    if mode == "sync":
        events = list(app.stream(INPUTS, stream_mode="custom", context=context))
    else:
        events = [e async for e in app.astream(INPUTS, stream_mode="custom", context=context)]
    kinds = [e["ponder"] for e in events]
    assert kinds[0] == "phase" and events[0]["phase"] == "self-consistency"
    samples = [e for e in events if e["ponder"] == "sample"]
    candidates = [e for e in events if e["ponder"] == "candidate"]
    assert [e["candidate_id"] for e in samples] == [e["candidate"]["id"] for e in candidates]
    assert kinds.index("sample") < kinds.index("candidate")  # each call as it returns
    assert kinds[-2:] == ["vote", "stop"] and events[-1]["answer"] == "8"


async def test_adaptive_streams_its_plan_and_nested_phases_as_they_start() -> None:
    answers = iter(range(100))

    def disagreeing(messages: list[Any], kwargs: dict[str, Any]) -> str:
        if "critique" in messages[-1].text.lower() or "mistake" in messages[-1].text.lower():
            return "The sum is wrong."
        return f"The answer is {next(answers)}."

    app = agent("adaptive", probe_samples=3)
    context = RunContext(
        model=ScriptedChatModel(reply_fn=disagreeing), verifier=ponder.ExpectedAnswer("7")
    )
    events = [e async for e in app.astream(INPUTS, stream_mode="custom", context=context)]
    phases = [e for e in events if e["ponder"] == "phase"]
    assert phases[0]["phase"] == "adaptive" and phases[1]["phase"] == "plan"
    planned = phases[1]["phases"]
    assert "refine" in planned
    assert [p["phase"] for p in phases[2:]] == [p for p in ("refine", "beam-search")
                                                if p.split("-")[-1] in planned]  # fmt: skip
    judged = [e["candidate"] for e in events if e["ponder"] == "candidate"]
    assert any(c["verdict"] == "rejected" for c in judged)  # verdicts stream too


async def test_messages_mode_says_which_candidate_a_token_belongs_to() -> None:
    context = RunContext(model=model())
    alone: Any = build_strategy("self-consistency", max_samples=2)
    seen = set()
    async for _, metadata in alone.astream(INPUTS, stream_mode="messages", context=context):
        seen.add(metadata["ponder_candidate"])
    assert seen == {"c0", "c1"}
    nested = set()  # LangGraph streams a subgraph's messages with subgraphs=True only
    app = agent("self-consistency", max_samples=2)
    async for _, (_, metadata) in app.astream(
        INPUTS, stream_mode="messages", context=context, subgraphs=True
    ):
        nested.add(metadata["ponder_candidate"])
    assert nested == {"c0", "c1"}


def test_a_nodes_update_names_only_what_changed() -> None:
    drawn = {"id": "c0", "verdict": None}
    judged = {"id": "c0", "verdict": "accepted"}
    state: Any = {"candidates": [drawn], "status": "running"}
    assert events_of("verify", state, {"candidates": [drawn]}) == []
    assert [e["ponder"] for e in events_of("verify", state, {"candidates": [judged]})] == [
        "candidate"
    ]
    assert events_of("n", state, "not an update") == []
