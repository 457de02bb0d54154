"""A question-answering agent that sends hard questions to a ponder strategy subgraph.

The agent is an ordinary LangGraph graph. A triage node answers easy questions with one
model call (through ponder's metered call, so it is planned within the budget and charged to
the ledger) and routes questions that need arithmetic to a compiled ponder strategy
(self-consistency), added to the agent as a subgraph: it reads the agent's ``problem`` and
``budget`` keys and writes ``answer`` back. Budget and ledger are the agent's own state.

Run:  .venv/bin/python examples/qa_agent.py
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.messages import HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

import ponder
from ponder.budget import BudgetLimits
from ponder.context import RunContext
from ponder.models import EmbeddedChatModel, prompt_style_of
from ponder.nodes import Meter
from ponder.state import LedgerEntry, RunError, merge_by_id


class AgentState(TypedDict, total=False):
    """The agent's state: its own keys plus the ones the ponder subgraph reads and writes."""

    question: str
    """The user's question."""
    route: str
    """Where triage sent it."""
    problem: str
    """The question, as the ponder strategy reads it."""
    budget: BudgetLimits
    """The budget the ponder strategy spends."""
    ledger: Annotated[list[LedgerEntry], merge_by_id]
    """Every model call of the agent, its own and the strategy's, with its cost."""
    errors: Annotated[list[RunError], merge_by_id]
    """Failures recorded along the way."""
    answer: str | None
    """The final answer."""


def triage(state: AgentState) -> dict[str, Any]:
    """Send questions that need arithmetic to the strategy, the rest to a direct answer."""
    hard = bool(re.search(r"\d", state["question"]))
    return {
        "route": "think" if hard else "direct",
        "problem": state["question"],
        "budget": ponder.Budget(tokens=2500).to_limits(),
    }


def route(state: AgentState) -> Literal["think", "direct"]:
    """Follow triage's decision."""
    return "think" if state["route"] == "think" else "direct"


async def direct(state: AgentState, *, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Answer with one model call, metered: planned within the budget and charged."""
    meter = Meter(state, runtime.context, node="direct")
    prompt = [HumanMessage(f"{state['question']}\nAnswer in a few words.")]
    result = await meter.call(prompt, max_tokens=32, temperature=0.0)
    return meter.update(answer=result.text.strip() if result.usable else None)


def build_agent() -> Any:
    """Build the agent graph with a ponder strategy as its ``think`` node."""
    graph = StateGraph(AgentState, context_schema=RunContext)
    graph.add_node("triage", triage)
    graph.add_node("direct", direct)
    graph.add_node("think", ponder.build_strategy("self-consistency", max_samples=5))
    graph.add_edge(START, "triage")
    graph.add_conditional_edges("triage", route)
    graph.add_edge("direct", END)
    graph.add_edge("think", END)
    return graph.compile()


async def main() -> list[dict[str, Any]]:
    """Ask the agent an easy and a hard question and print its answers."""
    model = EmbeddedChatModel.from_name("smollm2")
    context = RunContext(model=model, prompt_style=prompt_style_of(model))
    agent = build_agent()
    outputs = []
    for question in (
        "What is the capital of France?",
        "Tom has 12 apples and eats 5. How many are left?",
    ):
        out = await agent.ainvoke({"question": question}, context=context)
        print(f"{question}\n  -> route {out['route']}: {out['answer']}")
        outputs.append(out)
    return outputs


if __name__ == "__main__":
    asyncio.run(main())
