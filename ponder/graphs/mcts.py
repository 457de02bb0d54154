"""Monte Carlo tree search over reasoning steps, choosing by UCT (as in LATS).

The tree is plain data in the state: steps are candidates (kind ``step``) linked by
``parent_id``; ``frontier`` names the node to expand next; ``stats`` holds visit counts and
values by node id. Ids come from the state, so a search survives checkpoint and resume.

The graph::

    prepare -> choose -> expand -> evaluate -> backup -> (route) -> choose ... -> select

``choose`` walks down from the root by UCT to a node with room for children
(`ponder.nodes.choose`); ``expand`` adds ``branching`` children; ``evaluate`` scores them;
``backup`` adds each child's value to its ancestors' statistics (`ponder.nodes.backup`).
It stops when a final answer is accepted by the verifier (``verified``), after
``iterations`` rounds or when the tree is spent (``exhausted``), or when the budget cannot
afford another round (``budget``). The answer is the best-scored final step's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from ponder.errors import ConfigurationError
from ponder.graphs.config import StrategyConfig, TreeSearchConfig, option
from ponder.graphs.skeleton import Skeleton, StrategyGraph, StrategySpec, stop_rule
from ponder.nodes import backup, choose_leaf, choose_node, evaluate_node, expand_node
from ponder.nodes.backup import iterations_done
from ponder.state import RunState, StopReason

__all__ = ("SPEC", "MctsConfig", "build_mcts")


@dataclass(frozen=True, kw_only=True, slots=True)
class MctsConfig(TreeSearchConfig):
    """Options of Monte Carlo tree search (and those of `TreeSearchConfig`)."""

    iterations: int = option(6, "positive")
    """Most select-expand-evaluate-backup rounds."""
    exploration: float = 1.0
    """The UCT exploration weight ``c``."""

    def __post_init__(self) -> None:
        StrategyConfig.__post_init__(self)
        if not (math.isfinite(self.exploration) and self.exploration >= 0):
            raise ConfigurationError(
                f"{type(self).__name__}.exploration must be >= 0, got {self.exploration}"
            )

    @property
    def recursion_limit(self) -> int:
        """LangGraph super-steps the strategy can need."""
        return 4 * self.iterations + 10


def build_mcts(
    config: MctsConfig | None = None, *, checkpointer: BaseCheckpointSaver[Any] | None = None
) -> StrategyGraph:
    """Build the Monte Carlo tree search graph.

    Example:
        >>> sorted(build_mcts().get_graph().nodes)[2:]
        ['backup', 'choose', 'evaluate', 'expand', 'pause', 'prepare', 'select']
    """
    config = config or MctsConfig()
    tree = {"branching": config.branching, "max_depth": config.max_depth}

    def spent(state: RunState) -> StopReason | None:
        more = iterations_done(state) < config.iterations * config.branching and bool(
            choose_leaf(state, exploration=config.exploration, **tree)
        )
        return None if more else "exhausted"

    reason = stop_rule(tokens_needed=config.step_tokens, own=spent)
    frame = Skeleton("mcts", first="choose", resume_at="choose", select="best_score", reason=reason)
    expand = expand_node(
        branching=config.branching, temperature=config.temperature, max_tokens=config.step_tokens
    )
    frame.node("choose", choose_node(exploration=config.exploration, **tree))
    frame.node("expand", expand).node("evaluate", evaluate_node(accept_at=config.accept_at))
    frame.node("backup", backup).edge("choose", "expand").edge("expand", "evaluate")
    return frame.edge("evaluate", "backup").loop("backup", "choose").compile(checkpointer)


SPEC = StrategySpec(
    name="mcts",
    summary="Monte Carlo tree search over reasoning steps, choosing by UCT",
    config_type=MctsConfig,
    build=build_mcts,
    candidate_limit="iterations",
)
"""The Monte Carlo tree search strategy, for the registry."""
