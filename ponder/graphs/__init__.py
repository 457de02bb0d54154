"""Strategies as LangGraph graphs, each built by a function from its config."""

from ponder.graphs.adaptive import AdaptiveConfig, build_adaptive, make_plan
from ponder.graphs.best_of_n import BestOfNConfig, build_best_of_n
from ponder.graphs.refine import RefineConfig, build_refine
from ponder.graphs.registry import (
    STRATEGIES,
    StrategyName,
    StrategySpec,
    build_strategy,
    strategy_spec,
)
from ponder.graphs.self_consistency import SelfConsistencyConfig, build_self_consistency
from ponder.graphs.tree_search import BeamSearchConfig, MctsConfig, build_beam_search, build_mcts

__all__ = (
    "STRATEGIES",
    "AdaptiveConfig",
    "BeamSearchConfig",
    "BestOfNConfig",
    "MctsConfig",
    "RefineConfig",
    "SelfConsistencyConfig",
    "StrategyName",
    "StrategySpec",
    "build_adaptive",
    "build_beam_search",
    "build_best_of_n",
    "build_mcts",
    "build_refine",
    "build_self_consistency",
    "build_strategy",
    "make_plan",
    "strategy_spec",
)
