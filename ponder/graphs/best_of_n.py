"""Best-of-N with a verifier: sample, verify, stop at the first candidate that verifies.

The graph::

    prepare -> attempt -> verify -> (route) -> attempt ... -> select -> END

The routing edge keeps sampling while no candidate is accepted, fewer than ``n`` have been
drawn, and another sample is affordable. The answer is the accepted candidate's, else the
best-scored one's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from ponder.context import RunContext
from ponder.graphs._config import (
    check_fraction,
    check_positive_int,
    check_temperature,
    resolve_prompt,
)
from ponder.graphs._routing import end_route, refusing_limit
from ponder.nodes import attempt_node, prepare, select_node, verify_node
from ponder.nodes.pause import pause
from ponder.prompts import FEW_SHOT, PromptTemplate
from ponder.state import RunInput, RunOutput, RunState, StopReason

__all__ = ("BestOfNConfig", "BestOfNRoute", "build_best_of_n")

BestOfNRoute = Literal["attempt", "select", "pause"]
"""Where the routing edge goes: ``attempt`` draws another candidate, ``select`` ends,
``pause`` waits for a budget top-up."""


@dataclass(frozen=True, kw_only=True, slots=True)
class BestOfNConfig:
    """Options of the best-of-N strategy."""

    n: int = 8
    """Most candidates to draw."""
    temperature: float = 0.7
    """Sampling temperature."""
    max_tokens: int = 256
    """Output cap per candidate, in tokens."""
    accept_at: float = 1.0
    """A verifier score at or above this accepts a candidate and ends the search."""
    per_step: int = 1
    """Candidates drawn together per step (one batched decode on the embedded model). Above 1
    a run takes less wall time but may draw up to ``per_step - 1`` candidates past the first
    one accepted."""
    prompt: PromptTemplate = FEW_SHOT
    """The attempt prompt (a template, or the name of one in `ponder.prompts.ATTEMPT_PROMPTS`)."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        check_positive_int(owner, "n", self.n)
        check_positive_int(owner, "per_step", self.per_step)
        check_positive_int(owner, "max_tokens", self.max_tokens)
        check_fraction(owner, "accept_at", self.accept_at)
        check_temperature(owner, self.temperature)
        object.__setattr__(self, "prompt", resolve_prompt(owner, self.prompt))

    @property
    def recursion_limit(self) -> int:
        """LangGraph super-steps the strategy can need (so the budget, not LangGraph, ends it)."""
        return 2 * self.n + 8


def stop_reason(config: BestOfNConfig, state: RunState, context: RunContext) -> StopReason | None:
    """Return why sampling should stop now, or ``None`` to draw another candidate."""
    if state.get("stop_reason"):
        return state["stop_reason"]
    candidates = state.get("candidates", [])
    if any(candidate["verdict"] == "accepted" for candidate in candidates):
        return "verified"
    if len(candidates) >= config.n:
        return "exhausted"
    if refusing_limit(state, context, max_tokens=config.max_tokens) is not None:
        return "budget"
    return None


def build_best_of_n(
    config: BestOfNConfig | None = None,
) -> CompiledStateGraph[RunState, RunContext, RunInput, RunOutput]:
    """Build the best-of-N graph; the run context must carry a verifier.

    Example:
        >>> graph = build_best_of_n(BestOfNConfig(n=4))
        >>> sorted(graph.get_graph().nodes)
        ['__end__', '__start__', 'attempt', 'pause', 'prepare', 'select', 'verify']
    """
    config = config or BestOfNConfig()

    def reason(state: RunState, runtime: Runtime[RunContext]) -> StopReason | None:
        return stop_reason(config, state, runtime.context)

    def route(state: RunState, runtime: Runtime[RunContext]) -> BestOfNRoute:
        stop = reason(state, runtime)
        return "attempt" if stop is None else end_route(stop, runtime.context)

    graph = StateGraph(
        RunState, context_schema=RunContext, input_schema=RunInput, output_schema=RunOutput
    )
    graph.add_node("prepare", prepare)
    graph.add_node(
        "attempt",
        attempt_node(
            prompt=config.prompt,
            temperature=config.temperature,
            max_tokens=config.max_tokens,
            per_step=config.per_step,
            max_candidates=config.n,
        ),
    )
    graph.add_node("verify", verify_node(accept_at=config.accept_at))
    graph.add_node("select", select_node("best_score", reason))
    graph.add_edge(START, "prepare")
    graph.add_edge("prepare", "attempt")
    graph.add_edge("attempt", "verify")
    graph.add_conditional_edges("verify", route)
    graph.add_node("pause", pause)
    graph.add_edge("pause", "attempt")
    graph.add_edge("select", END)
    return graph.compile(name="best-of-n")
