"""Composition on the user's terms: their own context, their own keys, a clock per run."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, TypedDict

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, ConfigDict

import ponder
from ponder.context import RunContext, context_of, session_seconds
from ponder.errors import ConfigurationError
from ponder.graphs import build_strategy
from ponder.state import RunOutput
from ponder.testing import ScriptedChatModel


def model() -> ScriptedChatModel:
    return ScriptedChatModel(reply_fn=lambda messages, kwargs: "3 + 4 = 7. The answer is 7.")


@dataclass
class AgentContext:
    """A user's own context: their settings, and a model under the name ponder reads."""

    user_id: str
    model: Any
    verifier: Any = None
    seed: int = 3


class PydanticContext(BaseModel):
    """The same as a pydantic model, with a ponder context carried whole."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    user_id: str
    run_context: RunContext


class TwoWays(TypedDict, total=False):
    """A user's state: the question under their own key, two strategies' outcomes."""

    question: str
    budget: dict[str, Any]
    vote: RunOutput
    check: RunOutput
    final: str


def side_by_side() -> Any:
    graph = StateGraph(TwoWays, context_schema=AgentContext)
    keys = {"problem": "question"}
    graph.add_node("vote", build_strategy("self-consistency", input_keys=keys, output_key="vote"))
    graph.add_node("check", build_strategy("best-of-n", n=2, input_keys=keys, output_key="check"))

    def decide(state: TwoWays) -> dict[str, Any]:
        return {"final": state["vote"]["answer"] or state["check"]["answer"]}

    graph.add_node("decide", decide)
    graph.add_edge(START, "vote")
    graph.add_edge(START, "check")
    graph.add_edge(["vote", "check"], "decide")
    graph.add_edge("decide", END)
    return graph.compile(checkpointer=InMemorySaver())


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_two_strategies_run_side_by_side_under_the_users_keys_and_context(
    mode: str,
) -> None:
    app = side_by_side()
    inputs = {"question": "What is 3 + 4?", "budget": {"tokens": 2000}}
    config: Any = {"configurable": {"thread_id": mode}}
    user_context = AgentContext(user_id="u1", model=model(), verifier=ponder.ExpectedAnswer("7"))
    if mode == "sync":
        out = app.invoke(inputs, config, context=user_context)
    else:
        out = await app.ainvoke(inputs, config, context=user_context)
    assert out["final"] == "7"
    assert out["vote"]["answer"] == "7" and out["vote"]["status"] == "done"
    assert out["vote"]["candidates"][0]["seed"] == 3  # the user's context's seed
    assert out["check"]["answer"] == "7" and out["check"]["stop_reason"] == "verified"


def test_a_context_carrying_a_run_context_is_used_whole() -> None:
    carried = RunContext(model=model(), seed=11)
    assert context_of(PydanticContext(user_id="u", run_context=carried)) is carried
    assert context_of({"run_context": carried}) is carried


@pytest.mark.parametrize(
    ("context", "says"),
    [
        (None, "needs a context with a model"),
        ({"user_id": "u"}, "has no 'model'"),
        ({"model": "gpt-4o"}, "not usable: unknown model 'gpt-4o'"),
        ({"model": 42}, "a 'model' of type int"),
        ({"model": ScriptedChatModel(replies=["1"]), "call_timeout": "soon"}, "not usable"),
    ],
)
def test_a_context_ponder_cannot_use_is_refused_by_name(context: Any, says: str) -> None:
    with pytest.raises(ConfigurationError, match=says):
        context_of(context)


def test_a_strategy_in_a_graph_without_a_context_says_what_it_needs() -> None:
    graph: Any = build_strategy("self-consistency")
    with pytest.raises(ConfigurationError, match="needs a context with a model"):
        graph.invoke({"problem": "What is 3 + 4?", "budget": {"tokens": 100}})
    verifying = StateGraph(TwoWays, context_schema=AgentContext)
    verifying.add_node("check", build_strategy("best-of-n", input_keys={"problem": "question"},
                                               output_key="check"))  # fmt: skip
    verifying.add_edge(START, "check")
    with pytest.raises(ConfigurationError, match="needs a verifier"):
        verifying.compile().invoke(
            {"question": "What is 3 + 4?", "budget": {"tokens": 100}},
            context=AgentContext(user_id="u", model=model()),
        )


def test_keys_that_a_strategy_does_not_read_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="does not read"):
        build_strategy("self-consistency", input_keys={"question": "q"}, output_key="out")
    with pytest.raises(ConfigurationError, match="also an input or messages key"):
        build_strategy("self-consistency", input_keys={"problem": "q"}, output_key="q")
    with pytest.raises(ConfigurationError, match="need output_key"):
        build_strategy("self-consistency", input_keys={"problem": "q"})  # type: ignore[call-overload]


def test_a_missing_input_key_is_named() -> None:
    graph = build_strategy("self-consistency", input_keys={"problem": "q"}, output_key="out")
    with pytest.raises(ConfigurationError, match="from the key 'q'"):
        graph.invoke({"budget": {"tokens": 100}}, context=RunContext(model=model()))


def test_a_reused_context_charges_each_run_only_its_own_time() -> None:
    """Before, the clock started with the context: a second run an idle while later was
    charged the idle time, and with a seconds budget made no call at all."""
    graph: Any = build_strategy("self-consistency", max_samples=2)
    context = RunContext(model=model(), started=time.monotonic() - 3600)  # built an hour ago
    out = graph.invoke({"problem": "What is 3 + 4?", "budget": {"seconds": 60}}, context=context)
    assert out["answer"] == "7" and out["stop_reason"] != "budget"
    assert session_seconds({"started_at": time.time() - 5}, context) == pytest.approx(5, abs=1)


def test_a_fresh_context_still_counts_from_itself_on_a_resumed_run() -> None:
    """A run resumed after a crash keeps its old start in the state; its new context is
    the later start, so the downtime is not charged."""
    context = RunContext(model=model())
    assert session_seconds({"started_at": time.time() - 3600}, context) < 1
    assert session_seconds({}, context) < 1
    assert session_seconds({}, context_of({"model": model()})) == 0.0


def test_solve_reuses_nothing_between_runs() -> None:
    first = ponder.solve("What is 3 + 4?", budget={"seconds": 30}, model=model(), max_samples=2)
    assert first.answer == "7" and first.usage.seconds < 30


def test_a_chat_agent_asks_with_its_messages_and_gets_an_ai_message_back() -> None:
    from langchain_core.messages import AIMessage, HumanMessage
    from langgraph.graph import MessagesState

    class Chat(MessagesState, total=False):
        budget: dict[str, Any]
        vote: RunOutput

    graph = StateGraph(Chat, context_schema=RunContext)
    graph.add_node("vote", build_strategy(
        "self-consistency", input_keys={"problem": "messages"}, output_key="vote",
        messages_key="messages",
    ))  # fmt: skip
    graph.add_edge(START, "vote")
    app: Any = graph.compile()
    history = [HumanMessage("What is 1 + 1?"), AIMessage("2"), HumanMessage("What is 3 + 4?")]
    out = app.invoke({"messages": history, "budget": {"tokens": 2000}},
                     context=RunContext(model=model()))  # fmt: skip
    reply = out["messages"][-1]
    assert isinstance(reply, AIMessage) and reply.content == "7" and len(out["messages"]) == 4
    assert reply.response_metadata["status"] == "done"
    assert "What is 3 + 4?" in out["vote"]["candidates"][0]["text"] or out["vote"]["answer"] == "7"
    with pytest.raises(ConfigurationError, match="no human message"):
        app.invoke({"messages": [AIMessage("hi")], "budget": {"tokens": 100}},
                   context=RunContext(model=model()))  # fmt: skip
