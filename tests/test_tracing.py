"""Tracing: the user's config reaches every model call, each named and tagged by ponder."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langgraph.graph import END, START, StateGraph

import ponder
from ponder.context import RunContext
from ponder.errors import ConfigurationError
from ponder.graphs import build_strategy
from ponder.runs import aresume
from ponder.state import RunState
from ponder.testing import ScriptedChatModel


class Recorder(BaseCallbackHandler):
    """Keeps every chat-model run it is told of: its name, tags, metadata and parent."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.chains: dict[UUID, str] = {}

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.chains[run_id] = kwargs.get("name") or ""

    def on_chat_model_start(
        self, serialized: Any, messages: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        self.calls.append(
            {
                "name": kwargs.get("name"),
                "tags": kwargs.get("tags") or [],
                "metadata": kwargs.get("metadata") or {},
                "parent": kwargs.get("parent_run_id"),
            }
        )


def model() -> ScriptedChatModel:
    return ScriptedChatModel(reply_fn=lambda messages, kwargs: "3 + 4 = 7. The answer is 7.")


def test_every_model_call_of_a_solve_is_traced_under_its_node_and_candidate() -> None:
    recorder = Recorder()
    config: Any = {"callbacks": [recorder], "tags": ["eval"], "metadata": {"user": "u1"}}
    result = ponder.solve(
        "What is 3 + 4?", model=model(), budget={"tokens": 3000}, max_samples=3, config=config
    )
    assert len(recorder.calls) == len(result.ledger) >= 2
    names = [call["name"] for call in recorder.calls]
    assert sorted(names) == [f"attempt:{entry['candidate_id']}" for entry in result.ledger]
    for call in recorder.calls:
        assert {"eval", "ponder", "ponder:attempt"} <= set(call["tags"])
        meta = call["metadata"]
        assert meta["user"] == "u1" and meta["ponder_strategy"] == "self-consistency"
        assert meta["ponder_node"] == "attempt" and meta["ponder_prompt"] == "few_shot"
        assert meta["ponder_seed"] == int(meta["ponder_candidate"][1:])
        assert call["parent"] in recorder.chains  # a child of the node's run, not orphaned
    assert "ponder:self-consistency" in recorder.chains.values()


class AgentState(RunState, total=False):
    """A user's graph state around a strategy."""


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_strategy_in_a_users_graph_traces_with_the_users_callbacks(mode: str) -> None:
    graph = StateGraph(AgentState, context_schema=RunContext)
    graph.add_node("think", build_strategy("best-of-n", n=2))
    graph.add_edge(START, "think")
    graph.add_edge("think", END)
    app = graph.compile()
    recorder = Recorder()
    config: Any = {"callbacks": [recorder], "tags": ["agent"]}
    inputs: Any = {"problem": "What is 3 + 4?", "budget": {"tokens": 3000}}
    context = RunContext(model=model(), verifier=ponder.ExpectedAnswer("8"))
    if mode == "sync":
        out = app.invoke(inputs, config, context=context)
    else:
        out = await app.ainvoke(inputs, config, context=context)
    assert len(recorder.calls) == len(out["ledger"]) == 2
    assert [c["metadata"]["ponder_candidate"] for c in recorder.calls] == ["c0", "c1"]
    assert all("agent" in c["tags"] and c["parent"] in recorder.chains for c in recorder.calls)


async def test_resume_takes_a_tracing_config_too(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
    first = await ponder.asolve(
        "What is 3 + 4?", model=model(), budget={"tokens": 300}, db=db, max_samples=4,
        agreement=1.0,
    )  # fmt: skip
    assert first.status == "paused"
    recorder = Recorder()
    done = await aresume(
        first.run_id or "", db=db, model=model(), add_tokens=3000,
        config={"callbacks": [recorder], "metadata": {"attempt": 2}},
    )  # fmt: skip
    assert done.status == "done" and recorder.calls
    assert all(c["metadata"]["ponder_run_id"] == first.run_id for c in recorder.calls)
    assert all(c["metadata"]["attempt"] == 2 for c in recorder.calls)


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ({"recursion_limit": 5}, "'recursion_limit'"),
        ({"configurable": {"thread_id": "x"}}, "'thread_id'"),
        ("callbacks", "must be a RunnableConfig"),
    ],
)
def test_a_config_ponder_cannot_take_is_refused_before_anything_runs(
    config: Any, says: str
) -> None:
    scripted = model()
    with pytest.raises(ConfigurationError, match=says):
        ponder.solve("What is 3 + 4?", model=scripted, config=config)
    assert scripted.calls == []
