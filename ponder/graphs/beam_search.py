"""Beam search over reasoning steps.

The tree is plain data in the state: steps are candidates (kind ``step``) linked by
``parent_id``; ``frontier`` names the nodes to expand next. Ids come from the state, so a
search survives checkpoint and resume.

The graph::

    prepare -> expand -> evaluate -> (route) -> prune -> expand ... -> select

Each round expands every frontier node into ``branching`` next steps, scores them (the
verifier for final answers, a process reward or a value prompt for partial ones), and keeps
the best ``beam_width`` unfinished steps as the next frontier. It stops when a final answer
is accepted by the verifier (``verified``), when the search runs out of depth or frontier
(``exhausted``), or when the budget cannot afford another round (``budget``). The answer is
the best-scored final step's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver

from ponder.graphs.config import TreeSearchConfig, option
from ponder.graphs.skeleton import Skeleton, StrategyGraph, StrategySpec, stop_rule
from ponder.nodes import evaluate_node, expand_node, next_frontier, prepare, prune_node
from ponder.state import ROOT_ID, RunState, StopReason

__all__ = ("SPEC", "BeamSearchConfig", "build_beam_search")


@dataclass(frozen=True, kw_only=True, slots=True)
class BeamSearchConfig(TreeSearchConfig):
    """Options of beam search (and those of `TreeSearchConfig`)."""

    beam_width: int = option(2, "positive")
    """Unfinished steps kept per round."""

    @property
    def recursion_limit(self) -> int:
        """LangGraph super-steps the strategy can need."""
        return 3 * self.max_depth + 10


def _start(state: RunState, config: RunnableConfig) -> dict[str, Any]:
    """Prepare the run, with the root as the first frontier."""
    return {**prepare(state, config), "frontier": [ROOT_ID]}


def build_beam_search(
    config: BeamSearchConfig | None = None,
    *,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
) -> StrategyGraph:
    """Build the beam-search graph.

    Example:
        >>> sorted(build_beam_search().get_graph().nodes)[2:]
        ['evaluate', 'expand', 'pause', 'prepare', 'prune', 'select']
    """
    config = config or BeamSearchConfig()

    def spent(state: RunState) -> StopReason | None:
        more = next_frontier(state, beam_width=config.beam_width, max_depth=config.max_depth)
        return None if more else "exhausted"

    reason = stop_rule(tokens_needed=config.step_tokens, own=spent)
    frame = Skeleton(
        "beam-search", first="expand", resume_at="prune", select="best_score", reason=reason,
        prepare_node=_start,
    )  # fmt: skip
    expand = expand_node(
        branching=config.branching, temperature=config.temperature, max_tokens=config.step_tokens
    )
    frame.node("expand", expand).node("evaluate", evaluate_node(accept_at=config.accept_at))
    frame.node("prune", prune_node(beam_width=config.beam_width, max_depth=config.max_depth))
    frame.edge("expand", "evaluate").loop("evaluate", "prune").edge("prune", "expand")
    return frame.compile(checkpointer)


SPEC = StrategySpec(
    name="beam-search",
    summary="tree search over reasoning steps, keeping the best few at each depth",
    config_type=BeamSearchConfig,
    build=build_beam_search,
    candidate_limit="beam_width",
)
"""The beam-search strategy, for the registry."""
