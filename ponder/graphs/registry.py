"""The strategies by name: the specs the strategy modules export, collected.

Adding a strategy means one module that exports a `StrategySpec` (see
`ponder.graphs.skeleton`) and a call to `register_strategy` with it; ponder's own are
registered here. ``solve``, the command line (``--strategy``, ``-n``) and ``ponder bench``
read everything they need from the spec.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any, Literal, get_args, overload

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph

from ponder.errors import ConfigurationError
from ponder.graphs import (
    adaptive,
    beam_search,
    best_of_n,
    greedy,
    mcts,
    refine,
    self_consistency,
)
from ponder.graphs.keyed import keyed
from ponder.graphs.skeleton import StrategyGraph, StrategySpec

__all__ = (
    "STRATEGIES",
    "StrategyName",
    "StrategySpec",
    "build_strategy",
    "compiled",
    "make_config",
    "register_strategy",
    "strategy_spec",
)

StrategyName = Literal[
    "greedy", "self-consistency", "best-of-n", "refine", "beam-search", "mcts", "adaptive"
]
"""The strategies ponder ships (a strategy registered with `register_strategy` is accepted
wherever one of these is).

- ``greedy``: one answer at temperature 0, the baseline (self-consistency with one sample).
- ``self-consistency``: sample several solutions, majority vote, stop early when decided.
- ``best-of-n``: sample and verify, stop at the first candidate the verifier accepts.
- ``refine``: draft, critique, rewrite, until verified or nothing is left to fix.
- ``beam-search``: tree search over reasoning steps, keeping the best few per depth.
- ``mcts``: Monte Carlo tree search over reasoning steps, choosing by UCT.
- ``adaptive``: estimate difficulty, grant a budget, escalate through the others on doubt.
"""

STRATEGIES: dict[str, StrategySpec] = {}
"""Every strategy, by name: ponder's own, then those registered."""


def register_strategy(spec: StrategySpec, *, replace: bool = False) -> StrategySpec:
    """Make ``spec``'s strategy known to ``solve``, the command line and ``ponder bench``.

    Raises:
        ConfigurationError: A strategy of that name exists already (and not ``replace``).
    """
    if spec.name in STRATEGIES and not replace:
        raise ConfigurationError(f"a strategy named {spec.name!r} is registered already")
    if not dataclasses.is_dataclass(spec.config_type):
        raise ConfigurationError(f"{spec.name}: config_type must be a dataclass")
    STRATEGIES[spec.name] = spec
    compiled.cache_clear()
    return spec


def strategy_spec(name: str) -> StrategySpec:
    """Return the spec of strategy ``name``.

    Raises:
        ConfigurationError: No strategy has that name.
    """
    spec = STRATEGIES.get(name) if isinstance(name, str) else None
    if spec is None:
        raise ConfigurationError(
            f"unknown strategy {name!r}; choose one of: {', '.join(STRATEGIES)}"
        )
    return spec


def make_config(spec: StrategySpec, options: Mapping[str, Any]) -> Any:
    """Build ``spec``'s config from keyword options, naming any option it does not have."""
    known = {item.name for item in dataclasses.fields(spec.config_type)}
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
def compiled(name: str, config: Any) -> StrategyGraph:
    """Return the compiled graph of strategy ``name`` for ``config``, built once per process.

    Compiled graphs hold no run data (that lives in the state and the run context), so one
    graph serves every run with the same config.
    """
    return STRATEGIES[name].build(config)


@overload
def build_strategy(
    name: StrategyName | str,
    *,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    input_keys: None = None,
    output_key: None = None,
    messages_key: None = None,
    **options: Any,
) -> StrategyGraph: ...


@overload
def build_strategy(
    name: StrategyName | str,
    *,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    input_keys: Mapping[str, str] | None = None,
    output_key: str,
    messages_key: str | None = None,
    **options: Any,
) -> CompiledStateGraph[Any, Any, Any, Any]: ...


def build_strategy(
    name: StrategyName | str,
    *,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    input_keys: Mapping[str, str] | None = None,
    output_key: str | None = None,
    messages_key: str | None = None,
    **options: Any,
) -> StrategyGraph | CompiledStateGraph[Any, Any, Any, Any]:
    """Build the compiled graph of strategy ``name`` with ``options`` for its config.

    Args:
        name: The strategy.
        checkpointer: A LangGraph saver to compile the graph with (for a graph run on its
            own; a strategy nested in a user's graph uses the parent's).
        input_keys: Read the strategy's inputs from these keys of the user's state
            (``{"problem": "question"}``); see `ponder.graphs.keyed`.
        output_key: Write the strategy's whole outcome (a `ponder.state.RunOutput`) under
            this key, instead of ``answer``, ``candidates``, ... at the top level, so that
            several strategies can run side by side in one graph (`ponder.graphs.keyed`).
        messages_key: With ``output_key``: also append the answer to this messages key as
            an ``AIMessage`` (and the problem may be read from it: the last human message).
        **options: The strategy's options.

    Returns:
        The compiled strategy (a `StrategyGraph`); with ``output_key``, the strategy wrapped
        to read and write the user's keys.

    Raises:
        ConfigurationError: An unknown strategy or option, or ``input_keys`` without
            ``output_key``.

    Example:
        >>> graph = build_strategy("self-consistency", max_samples=5)
        >>> graph.name
        'self-consistency'
    """
    spec = strategy_spec(name)
    config = make_config(spec, options)
    if output_key is None:
        if input_keys is not None or messages_key is not None:
            raise ConfigurationError(
                "input_keys and messages_key need output_key too: name the key that receives "
                "the outcome"
            )
        return spec.build(config, checkpointer=checkpointer)
    return keyed(
        spec.build(config), input_keys=input_keys, output_key=output_key,
        messages_key=messages_key, checkpointer=checkpointer,
        recursion_limit=config.recursion_limit,
    )  # fmt: skip


for _spec in (
    greedy.SPEC,
    self_consistency.SPEC,
    best_of_n.SPEC,
    refine.SPEC,
    beam_search.SPEC,
    mcts.SPEC,
    adaptive.SPEC,
):
    register_strategy(_spec)
assert tuple(STRATEGIES) == get_args(StrategyName)  # noqa: S101 - the Literal lists them all
