"""Strategies as LangGraph graphs, each built by a function from its config."""

from ponder.graphs.best_of_n import BestOfNConfig, build_best_of_n
from ponder.graphs.registry import (
    STRATEGIES,
    StrategyName,
    StrategySpec,
    build_strategy,
    strategy_spec,
)
from ponder.graphs.self_consistency import SelfConsistencyConfig, build_self_consistency

__all__ = (
    "STRATEGIES",
    "BestOfNConfig",
    "SelfConsistencyConfig",
    "StrategyName",
    "StrategySpec",
    "build_best_of_n",
    "build_self_consistency",
    "build_strategy",
    "strategy_spec",
)
