"""Best-of-N with a verifier: sample, verify, stop at the first candidate that verifies.

The graph::

    prepare -> attempt -> verify -> (route) -> attempt ... -> select -> END

The routing edge keeps sampling while no candidate is accepted, fewer than ``n`` have been
drawn, and another sample is affordable. The answer is the accepted candidate's, else the
best-scored one's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from ponder.graphs.config import SamplingConfig, option
from ponder.graphs.skeleton import Skeleton, StrategyGraph, StrategySpec, stop_rule
from ponder.nodes import verify_node
from ponder.state import RunState, StopReason

__all__ = ("SPEC", "BestOfNConfig", "build_best_of_n")


@dataclass(frozen=True, kw_only=True, slots=True)
class BestOfNConfig(SamplingConfig):
    """Options of the best-of-N strategy (and those of `SamplingConfig`)."""

    n: int = option(8, "positive")
    """Most candidates to draw."""
    accept_at: float = option(1.0, "fraction")
    """A verifier score at or above this accepts a candidate and ends the search."""
    per_step: int = option(1, "positive")
    """Candidates drawn together per step (one batched decode on the embedded model). Above 1
    a run takes less wall time but may draw up to ``per_step - 1`` candidates past the first
    one accepted."""

    @property
    def recursion_limit(self) -> int:
        """LangGraph super-steps the strategy can need (so the budget, not LangGraph, ends it)."""
        return 2 * self.n + 8


def build_best_of_n(
    config: BestOfNConfig | None = None, *, checkpointer: BaseCheckpointSaver[Any] | None = None
) -> StrategyGraph:
    """Build the best-of-N graph; the run context must carry a verifier.

    Example:
        >>> graph = build_best_of_n(BestOfNConfig(n=4))
        >>> sorted(graph.get_graph().nodes)
        ['__end__', '__start__', 'attempt', 'pause', 'prepare', 'select', 'verify']
    """
    config = config or BestOfNConfig()

    def drawn_all(state: RunState) -> StopReason | None:
        return "exhausted" if len(state.get("candidates", [])) >= config.n else None

    reason = stop_rule(tokens_needed=config.max_tokens, own=drawn_all)
    attempt = config.attempt_node(per_step=config.per_step, max_candidates=config.n)
    frame = Skeleton(
        "best-of-n", first="attempt", resume_at="attempt", select="best_score", reason=reason
    )
    frame.node("attempt", attempt).node("verify", verify_node(accept_at=config.accept_at))
    return frame.edge("attempt", "verify").loop("verify", "attempt").compile(checkpointer)


SPEC = StrategySpec(
    name="best-of-n",
    summary="sample and verify each candidate; stops at the first one the verifier accepts",
    config_type=BestOfNConfig,
    build=build_best_of_n,
    candidate_limit="n",
    needs_verifier=True,
    bench_options={"n": 16},
)
"""The best-of-N strategy, for the registry."""
