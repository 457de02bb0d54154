"""Strategies as LangGraph graphs: one module each, on one skeleton (`ponder.graphs.skeleton`).

Every builder takes the strategy's config and an optional ``checkpointer``, and returns a
compiled graph that runs alone or as a node of a user's graph, sync or async.
"""

from ponder.graphs.adaptive import AdaptiveConfig, build_adaptive
from ponder.graphs.beam_search import BeamSearchConfig, build_beam_search
from ponder.graphs.best_of_n import BestOfNConfig, build_best_of_n
from ponder.graphs.config import SamplingConfig, StrategyConfig, TreeSearchConfig, option
from ponder.graphs.greedy import GreedyConfig, build_greedy
from ponder.graphs.mcts import MctsConfig, build_mcts
from ponder.graphs.refine import RefineConfig, build_refine
from ponder.graphs.registry import (
    STRATEGIES,
    StrategyName,
    build_strategy,
    register_strategy,
    strategy_spec,
)
from ponder.graphs.self_consistency import SelfConsistencyConfig, build_self_consistency
from ponder.graphs.skeleton import Skeleton, StopRule, StrategyGraph, StrategySpec, stop_rule

__all__ = (
    "STRATEGIES",
    "AdaptiveConfig",
    "BeamSearchConfig",
    "BestOfNConfig",
    "GreedyConfig",
    "MctsConfig",
    "RefineConfig",
    "SamplingConfig",
    "SelfConsistencyConfig",
    "Skeleton",
    "StopRule",
    "StrategyConfig",
    "StrategyGraph",
    "StrategyName",
    "StrategySpec",
    "TreeSearchConfig",
    "build_adaptive",
    "build_beam_search",
    "build_best_of_n",
    "build_greedy",
    "build_mcts",
    "build_refine",
    "build_self_consistency",
    "build_strategy",
    "option",
    "register_strategy",
    "stop_rule",
    "strategy_spec",
)
