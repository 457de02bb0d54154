"""Greedy decoding: one answer at temperature 0, the baseline every strategy is measured by.

The graph is self-consistency's (`ponder.graphs.self_consistency`) with one sample drawn
greedy::

    prepare -> attempt -> select -> END

It spends what answering once costs (one call: the prompt and the answer's tokens), so
``ponder bench`` runs it first, as the reference row of its report and as the unit of its
relative budgets (``--budgets 1x,2x,4x``: multiples of greedy's mean tokens).

Example:
    >>> import ponder
    >>> from ponder.testing import ScriptedChatModel
    >>> model = ScriptedChatModel(replies=["2 + 2 = 4. The answer is 4."])
    >>> result = ponder.solve("What is 2 + 2?", strategy="greedy", model=model)
    >>> result.answer, len(result.candidates), result.candidates[0]["temperature"]
    ('4', 1, 0.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from ponder.errors import ConfigurationError
from ponder.graphs.config import option
from ponder.graphs.self_consistency import (
    SelfConsistencyConfig,
    VoteMethod,
    build_self_consistency,
)
from ponder.graphs.skeleton import StrategyGraph, StrategySpec

__all__ = ("SPEC", "GreedyConfig", "build_greedy")


@dataclass(frozen=True, kw_only=True, slots=True)
class GreedyConfig(SelfConsistencyConfig):
    """Options of greedy decoding: self-consistency's, fixed to one greedy sample.

    ``max_tokens`` and ``prompt`` (the few-shot prompt by default) are the options that
    change what greedy does; ``max_samples``, ``programs`` and ``greedy_first`` are fixed
    (more samples are self-consistency's), and the vote of one sample is that sample.
    """

    max_samples: int = option(1, "positive")
    """Always 1: one answer."""
    min_samples: int = option(1, "positive")
    """Always 1: the one answer ends the vote."""
    greedy_first: bool = True
    """Always true: the one sample is drawn at temperature 0."""
    # Set here, not inherited: self-consistency's defaults may change (an anchored vote with
    # programs), greedy's must not.
    select: VoteMethod = "majority"
    """The vote of one sample: ``majority`` (any vote returns that sample's answer)."""
    programs: int = option(0, "count")
    """Always 0: no program-aided candidates."""

    def __post_init__(self) -> None:
        SelfConsistencyConfig.__post_init__(self)
        fixed = {"max_samples": 1, "min_samples": 1, "greedy_first": True, "programs": 0}
        changed = [name for name, value in fixed.items() if getattr(self, name) != value]
        if changed:
            raise ConfigurationError(
                f"greedy draws one answer at temperature 0: {', '.join(changed)} cannot be "
                "changed (use strategy 'self-consistency' for more samples)"
            )


def build_greedy(
    config: GreedyConfig | None = None,
    *,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
) -> StrategyGraph:
    """Build the greedy graph (self-consistency's, named ``greedy``).

    Example:
        >>> graph = build_greedy()
        >>> graph.name, sorted(graph.get_graph().nodes)
        ('greedy', ['__end__', '__start__', 'attempt', 'pause', 'prepare', 'select'])
    """
    return build_self_consistency(
        config or GreedyConfig(), checkpointer=checkpointer, name="greedy"
    )


SPEC = StrategySpec(
    name="greedy",
    summary="one answer at temperature 0 (greedy decoding): the baseline to beat",
    config_type=GreedyConfig,
    build=build_greedy,
    candidate_limit="max_samples",
)
"""The greedy strategy, for the registry."""
