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
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from ponder.graphs.config import SamplingConfig, option
from ponder.graphs.skeleton import Skeleton, StrategyGraph, StrategySpec, stop_rule
from ponder.nodes import critique_node, finds_nothing, latest_leaf, refine_node, verify_node
from ponder.state import RunState, StopReason

__all__ = ("SPEC", "RefineConfig", "build_refine")


@dataclass(frozen=True, kw_only=True, slots=True)
class RefineConfig(SamplingConfig):
    """Options of the critique-and-refine strategy.

    Those of `SamplingConfig` are the first draft's and the refinements'.
    """

    max_rounds: int = option(3, "positive")
    """Most refinements."""
    temperature: float = option(0.0, "temperature")
    """Temperature of the first draft and of refinements."""
    critique_tokens: int = option(160, "positive")
    """Output cap of a critique, in tokens."""
    accept_at: float = 1.0
    """A verifier score at or above this ends the loop."""

    @property
    def recursion_limit(self) -> int:
        """LangGraph super-steps the strategy can need."""
        return 3 * self.max_rounds + 10


def build_refine(
    config: RefineConfig | None = None, *, checkpointer: BaseCheckpointSaver[Any] | None = None
) -> StrategyGraph:
    """Build the critique-and-refine graph.

    Example:
        >>> sorted(build_refine().get_graph().nodes)[:4]
        ['__end__', '__start__', 'attempt', 'check']
    """
    config = config or RefineConfig()

    def nothing_left(state: RunState) -> StopReason | None:
        candidates = state.get("candidates", [])
        leaf = latest_leaf(candidates)
        if leaf is None:
            return "exhausted"
        if leaf["critique"] is not None and finds_nothing(leaf["critique"]):
            return "converged"
        if sum(c["kind"] == "refine" for c in candidates) >= config.max_rounds:
            return "exhausted"
        return None

    reason = stop_rule(tokens_needed=config.critique_tokens + config.max_tokens, own=nothing_left)
    draft = config.attempt_node(max_candidates=None)
    frame = Skeleton(
        "refine", first="attempt", resume_at="critique", select="latest", reason=reason
    )
    frame.node("attempt", draft)
    frame.node("check", verify_node(accept_at=config.accept_at, optional=True))
    frame.node("critique", critique_node(max_tokens=config.critique_tokens))
    frame.node("refine", refine_node(temperature=config.temperature, max_tokens=config.max_tokens))
    frame.edge("attempt", "check").loop("check", "critique").loop("critique", "refine")
    return frame.edge("refine", "check").compile(checkpointer)


SPEC = StrategySpec(
    name="refine",
    summary="draft, critique and rewrite until verified or the critique finds nothing",
    config_type=RefineConfig,
    build=build_refine,
    candidate_limit="max_rounds",
    bench_options={"max_rounds": 4},
)
"""The critique-and-refine strategy, for the registry."""
