"""Critique and refine: draft, critique, rewrite, until it verifies or nothing is left to fix.

The graph::

    prepare -> attempt -> check -> (route) -> critique | select
    critique -> (route) -> refine | select
    refine -> check ...

``check`` runs the run's verifier when there is one. The loop stops when a candidate is
accepted (``verified``), the critique finds nothing to fix (``converged``), ``max_rounds``
refinements were made (``exhausted``), or the budget cannot afford another critique and
refinement (``budget``). The answer is the best-scored candidate's, else the latest
refinement's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from ponder.context import RunContext
from ponder.graphs._config import check_positive_int, check_temperature, resolve_prompt
from ponder.graphs._routing import end_route, refusing_limit
from ponder.nodes import attempt_node, prepare, select_node, verify_node
from ponder.nodes._target import latest_leaf
from ponder.nodes.critique import critique_node, finds_nothing
from ponder.nodes.pause import pause
from ponder.nodes.refine import refine_node
from ponder.prompts import FEW_SHOT, PromptTemplate
from ponder.state import RunInput, RunOutput, RunState, StopReason

__all__ = ("AfterCheckRoute", "AfterCritiqueRoute", "RefineConfig", "RefineRoute", "build_refine")

RefineRoute = Literal["critique", "refine", "select", "pause"]
"""Where the refine loop goes next."""

AfterCheckRoute = Literal["critique", "select", "pause"]
"""Where the loop goes after a check: ``critique`` the draft, ``select``, or ``pause``."""

AfterCritiqueRoute = Literal["refine", "select", "pause"]
"""Where the loop goes after a critique: ``refine`` the draft, ``select``, or ``pause``.

Each router declares its own routes, so the drawn graph has exactly the possible edges."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RefineConfig:
    """Options of the critique-and-refine strategy."""

    max_rounds: int = 3
    """Most refinements."""
    temperature: float = 0.0
    """Temperature of the first draft and of refinements."""
    max_tokens: int = 256
    """Output cap of drafts and refinements, in tokens."""
    critique_tokens: int = 160
    """Output cap of a critique, in tokens."""
    accept_at: float = 1.0
    """A verifier score at or above this ends the loop."""
    prompt: PromptTemplate = FEW_SHOT
    """The first draft's prompt (a template or an attempt-prompt name)."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        check_positive_int(owner, "max_rounds", self.max_rounds)
        check_positive_int(owner, "max_tokens", self.max_tokens)
        check_positive_int(owner, "critique_tokens", self.critique_tokens)
        check_temperature(owner, self.temperature)
        object.__setattr__(self, "prompt", resolve_prompt(owner, self.prompt))

    @property
    def recursion_limit(self) -> int:
        """LangGraph super-steps the strategy can need."""
        return 3 * self.max_rounds + 10


def stop_reason(config: RefineConfig, state: RunState, context: RunContext) -> StopReason | None:
    """Return why the loop should stop before the next critique, or ``None`` to go on."""
    if state.get("stop_reason"):
        return state["stop_reason"]
    candidates = state.get("candidates", [])
    if any(c["verdict"] == "accepted" for c in candidates):
        return "verified"
    leaf = latest_leaf(candidates)
    if leaf is None:
        return "exhausted"
    if leaf["critique"] is not None and finds_nothing(leaf["critique"]):
        return "converged"
    if sum(c["kind"] == "refine" for c in candidates) >= config.max_rounds:
        return "exhausted"
    needed = config.critique_tokens + config.max_tokens
    if refusing_limit(state, context, max_tokens=needed) is not None:
        return "budget"
    return None


def build_refine(
    config: RefineConfig | None = None,
) -> CompiledStateGraph[RunState, RunContext, RunInput, RunOutput]:
    """Build the critique-and-refine graph.

    Example:
        >>> sorted(build_refine().get_graph().nodes)[:4]
        ['__end__', '__start__', 'attempt', 'check']
    """
    config = config or RefineConfig()

    def reason(state: RunState, runtime: Runtime[RunContext]) -> StopReason | None:
        return stop_reason(config, state, runtime.context)

    def after_check(state: RunState, runtime: Runtime[RunContext]) -> AfterCheckRoute:
        stop = reason(state, runtime)
        return "critique" if stop is None else end_route(stop, runtime.context)

    def after_critique(state: RunState, runtime: Runtime[RunContext]) -> AfterCritiqueRoute:
        stop = reason(state, runtime)
        return "refine" if stop is None else end_route(stop, runtime.context)

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
            max_candidates=10**9,
        ),  # fmt: skip
    )
    graph.add_node("check", verify_node(accept_at=config.accept_at, optional=True))
    graph.add_node("critique", critique_node(max_tokens=config.critique_tokens))
    graph.add_node(
        "refine", refine_node(temperature=config.temperature, max_tokens=config.max_tokens)
    )
    graph.add_node("select", select_node("latest", reason))
    graph.add_edge(START, "prepare")
    graph.add_edge("prepare", "attempt")
    graph.add_edge("attempt", "check")
    graph.add_conditional_edges("check", after_check)
    graph.add_conditional_edges("critique", after_critique)
    graph.add_edge("refine", "check")
    graph.add_node("pause", pause)
    graph.add_edge("pause", "critique")
    graph.add_edge("select", END)
    return graph.compile(name="refine")
