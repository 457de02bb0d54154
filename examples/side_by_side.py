"""Two ponder strategies side by side in a user's own graph, streamed live and traced.

The graph is the user's: its state keeps the question under ``question``, its context is a
dataclass of the user's own (a user id beside the model and a verifier, which ponder's nodes
read by their field names). Self-consistency (a vote) and best-of-n checked by a label-free
verifier (`ponder.verify.ArithmeticConsistency`: the first sample whose stated arithmetic all
checks out) run in parallel branches, each writing its whole outcome under its own key; a
last node compares them. Progress arrives as ``custom`` stream events as it
happens, and a callback handler sees every model call, named and tagged by ponder.

Run:  .venv/bin/python examples/side_by_side.py ["question"]
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TypedDict
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langgraph.graph import END, START, StateGraph

import ponder
from ponder.models import resolve_model
from ponder.state import RunOutput
from ponder.verify import ArithmeticConsistency


@dataclass
class AgentContext:
    """The user's own context: ponder reads ``model``, ``verifier`` and ``seed`` by name."""

    user_id: str
    model: BaseChatModel
    verifier: Any = field(default_factory=ArithmeticConsistency)
    seed: int = 0


class AgentState(TypedDict, total=False):
    """The user's state: the question, a budget per strategy, both outcomes, a verdict."""

    question: str
    budget: dict[str, Any]
    vote: RunOutput
    checked: RunOutput
    answer: str | None
    agreed: bool


class CallCounter(BaseCallbackHandler):
    """Counts the model calls a tracer would see, by ponder's run name (node:candidate)."""

    def __init__(self) -> None:
        self.names: Counter[str] = Counter()
        self.tags: set[str] = set()

    def on_chat_model_start(
        self, serialized: Any, messages: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        self.names[kwargs.get("name") or "?"] += 1
        self.tags.update(kwargs.get("tags") or [])


def compare(state: AgentState) -> dict[str, Any]:
    """Take the checked answer where one passed, else the vote's; say whether they agree."""
    vote, checked = state["vote"], state["checked"]
    passed = checked["answer"] if checked["stop_reason"] == "verified" else None
    answer = passed or vote["answer"]
    return {"answer": answer, "agreed": vote["answer"] is not None and vote["answer"] == passed}


def build_agent() -> Any:
    """The graph: both strategies from START in parallel, then ``compare``."""
    keys = {"problem": "question"}
    graph = StateGraph(AgentState, context_schema=AgentContext)
    graph.add_node(
        "vote",
        ponder.build_strategy(
            "self-consistency", max_samples=4, input_keys=keys, output_key="vote"
        ),
    )
    graph.add_node(
        "checked",
        ponder.build_strategy("best-of-n", n=3, input_keys=keys, output_key="checked"),
    )
    graph.add_node("compare", compare)
    graph.add_edge(START, "vote")
    graph.add_edge(START, "checked")
    graph.add_edge(["vote", "checked"], "compare")
    graph.add_edge("compare", END)
    return graph.compile()


@dataclass
class Outcome:
    """What a run of the example gives back, for the tests."""

    state: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    calls: CallCounter = field(default_factory=CallCounter)

    def take(self, mode: str, data: Any) -> None:
        """Keep one streamed item: the latest state, or an event (printed as it comes)."""
        if mode == "values":
            self.state = dict(data)
            return
        self.events.append(data)
        _show(data)


def _inputs(question: str) -> dict[str, Any]:
    return {"question": question, "budget": {"tokens": 3000}}


def _config(calls: CallCounter) -> Any:
    return {"callbacks": [calls], "tags": ["side-by-side"]}


async def arun(question: str, model: BaseChatModel | None = None) -> Outcome:
    """Run the agent async, printing candidates as they are drawn."""
    outcome, context = Outcome(state={}), _context(model)
    async for mode, data in build_agent().astream(
        _inputs(question), _config(outcome.calls), context=context,
        stream_mode=["custom", "values"],
    ):  # fmt: skip
        outcome.take(mode, data)
    return outcome


def run(question: str, model: BaseChatModel | None = None) -> Outcome:
    """Run the agent sync (the same graph, ``stream`` instead of ``astream``)."""
    outcome, context = Outcome(state={}), _context(model)
    for mode, data in build_agent().stream(
        _inputs(question), _config(outcome.calls), context=context,
        stream_mode=["custom", "values"],
    ):  # fmt: skip
        outcome.take(mode, data)
    return outcome


def _context(model: BaseChatModel | None) -> AgentContext:
    return AgentContext(user_id="demo", model=model or resolve_model(None))


def _show(event: dict[str, Any]) -> None:
    if event.get("ponder") == "candidate" and event["candidate"]["verdict"] is None:
        candidate = event["candidate"]
        print(f"  {event['node']:<8} {candidate['id']:<4} answer {candidate['answer']}")


if __name__ == "__main__":
    question = sys.argv[1] if len(sys.argv) > 1 else "Tom has 12 apples and eats 5. How many?"
    outcome = asyncio.run(arun(question))
    state = outcome.state
    print(f"answer {state['answer']} (the vote agrees with the checked sample: {state['agreed']})")
    print(f"model calls traced: {sum(outcome.calls.names.values())}")
