"""The strategies by name, for the API and the command line."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

from langgraph.graph.state import CompiledStateGraph

from ponder.context import RunContext
from ponder.errors import ConfigurationError
from ponder.graphs.adaptive import AdaptiveConfig, build_adaptive
from ponder.graphs.best_of_n import BestOfNConfig, build_best_of_n
from ponder.graphs.refine import RefineConfig, build_refine
from ponder.graphs.self_consistency import SelfConsistencyConfig, build_self_consistency
from ponder.graphs.tree_search import BeamSearchConfig, MctsConfig, build_beam_search, build_mcts
from ponder.state import RunInput, RunOutput, RunState

__all__ = (
    "STRATEGIES",
    "StrategyName",
    "StrategySpec",
    "build_strategy",
    "compiled",
    "make_config",
    "strategy_spec",
)

StrategyName = Literal["self-consistency", "best-of-n", "refine", "beam-search", "mcts", "adaptive"]
"""The strategies ponder ships.

- ``self-consistency``: sample several solutions, majority vote, stop early when decided.
- ``best-of-n``: sample and verify, stop at the first candidate the verifier accepts.
- ``refine``: draft, critique, rewrite, until verified or nothing is left to fix.
- ``beam-search``: tree search over reasoning steps, keeping the best few per depth.
- ``mcts``: Monte Carlo tree search over reasoning steps, choosing by UCT.
- ``adaptive``: estimate difficulty, grant a budget, escalate through the others on doubt.
"""

StrategyGraph = CompiledStateGraph[RunState, RunContext, RunInput, RunOutput]
"""A compiled strategy graph."""


@dataclass(frozen=True, kw_only=True, slots=True)
class StrategySpec:
    """How to build one strategy."""

    name: StrategyName
    """The strategy's name."""
    summary: str
    """One line on what it does."""
    config_type: type[Any]
    """Its options, a frozen dataclass."""
    build: Callable[[Any], StrategyGraph]
    """Builds the compiled graph from a config."""
    needs_verifier: bool
    """Whether a run needs ``verifier=``."""


STRATEGIES: dict[StrategyName, StrategySpec] = {
    "self-consistency": StrategySpec(
        name="self-consistency",
        summary="sample several solutions and take the majority answer; stops when decided",
        config_type=SelfConsistencyConfig,
        build=build_self_consistency,
        needs_verifier=False,
    ),
    "best-of-n": StrategySpec(
        name="best-of-n",
        summary="sample and verify each candidate; stops at the first one the verifier accepts",
        config_type=BestOfNConfig,
        build=build_best_of_n,
        needs_verifier=True,
    ),
    "refine": StrategySpec(
        name="refine",
        summary="draft, critique and rewrite until verified or the critique finds nothing",
        config_type=RefineConfig,
        build=build_refine,
        needs_verifier=False,
    ),
    "beam-search": StrategySpec(
        name="beam-search",
        summary="tree search over reasoning steps, keeping the best few at each depth",
        config_type=BeamSearchConfig,
        build=build_beam_search,
        needs_verifier=False,
    ),
    "mcts": StrategySpec(
        name="mcts",
        summary="Monte Carlo tree search over reasoning steps, choosing by UCT",
        config_type=MctsConfig,
        build=build_mcts,
        needs_verifier=False,
    ),
    "adaptive": StrategySpec(
        name="adaptive",
        summary="estimate difficulty, grant a budget, escalate through attempts, refine, search",
        config_type=AdaptiveConfig,
        build=build_adaptive,
        needs_verifier=False,
    ),
}
"""Every strategy, by name."""


def strategy_spec(name: str) -> StrategySpec:
    """Return the spec of strategy ``name``.

    Raises:
        ConfigurationError: No strategy has that name.
    """
    if name not in get_args(StrategyName):
        raise ConfigurationError(
            f"unknown strategy {name!r}; choose one of: {', '.join(get_args(StrategyName))}"
        )
    return STRATEGIES[cast(StrategyName, name)]


def make_config(spec: StrategySpec, options: Mapping[str, Any]) -> Any:
    """Build ``spec``'s config from keyword options, naming any option it does not have."""
    known = {field.name for field in dataclasses.fields(spec.config_type)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigurationError(
            f"strategy {spec.name!r} has no option {', '.join(map(repr, unknown))}; "
            f"its options are: {', '.join(sorted(known))}"
        )
    try:
        return spec.config_type(**options)
    except TypeError as exc:
        raise ConfigurationError(f"bad options for strategy {spec.name!r}: {exc}") from exc


@functools.lru_cache(maxsize=64)
def compiled(name: StrategyName, config: Any) -> StrategyGraph:
    """Return the compiled graph of strategy ``name`` for ``config``, built once per process.

    Compiled graphs hold no run data (that lives in the state and the run context), so one
    graph serves every run with the same config.
    """
    return STRATEGIES[name].build(config)


def build_strategy(name: str, **options: Any) -> StrategyGraph:
    """Build the compiled graph of strategy ``name`` with ``options`` for its config.

    Example:
        >>> graph = build_strategy("self-consistency", max_samples=5)
        >>> graph.name
        'self-consistency'
    """
    spec = strategy_spec(name)
    return spec.build(make_config(spec, options))
