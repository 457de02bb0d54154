"""Self-consistency: sample several solutions and take the majority answer.

The graph::

    prepare -> attempt -> (route) -> attempt ... -> select -> END

The routing edge keeps sampling while the vote is open and another sample is affordable.
It stops when the leader reaches the agreement threshold (``converged``), when the leader
can no longer be overtaken by the samples left (``decided``), at ``max_samples``
(``exhausted``), or when the budget cannot afford another call (``budget``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from ponder.context import RunContext
from ponder.graphs._config import (
    check_fraction,
    check_positive_int,
    check_temperature,
    resolve_prompt,
)
from ponder.graphs._routing import end_route, refusing_limit
from ponder.nodes import attempt_node, prepare, select_node, tally
from ponder.nodes.pause import pause
from ponder.prompts import FEW_SHOT, PromptTemplate
from ponder.state import RunInput, RunOutput, RunState, StopReason

__all__ = (
    "SelfConsistencyConfig",
    "SelfConsistencyRoute",
    "build_self_consistency",
    "samples_before_stop",
)

SelfConsistencyRoute = Literal["attempt", "select", "pause"]
"""Where the routing edge goes: ``attempt`` draws another sample, ``select`` ends the vote,
``pause`` waits for a budget top-up."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SelfConsistencyConfig:
    """Options of the self-consistency strategy."""

    max_samples: int = 8
    """Most samples to draw."""
    min_samples: int = 3
    """Samples to draw before the agreement threshold may stop the vote."""
    agreement: float = 0.75
    """Stop once the leading answer holds this share of the samples drawn."""
    temperature: float = 0.7
    """Sampling temperature."""
    max_tokens: int = 256
    """Output cap per sample, in tokens."""
    prompt: PromptTemplate = FEW_SHOT
    """The attempt prompt (a template, or the name of one in `ponder.prompts.ATTEMPT_PROMPTS`)."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        check_positive_int(owner, "max_samples", self.max_samples)
        check_positive_int(owner, "min_samples", self.min_samples)
        check_positive_int(owner, "max_tokens", self.max_tokens)
        check_fraction(owner, "agreement", self.agreement)
        check_temperature(owner, self.temperature)
        object.__setattr__(self, "prompt", resolve_prompt(owner, self.prompt))

    @property
    def recursion_limit(self) -> int:
        """LangGraph super-steps the strategy can need (so the budget, not LangGraph, ends it)."""
        return self.max_samples + 8


def _standing(state: RunState) -> tuple[int, int, int]:
    """Samples drawn, and the votes of the leading and the second answer."""
    candidates = state.get("candidates", [])
    counts = sorted(tally(candidates).values(), reverse=True)
    return len(candidates), (counts[0] if counts else 0), (counts[1] if len(counts) > 1 else 0)


def _vote_ends(
    config: SelfConsistencyConfig, drawn: int, leader: int, runner_up: int
) -> StopReason | None:
    """Whether the vote ends with this standing: ``converged``, ``decided`` or ``None``."""
    if drawn >= config.min_samples and leader / drawn >= config.agreement:
        return "converged"
    if leader > 0 and leader - runner_up > config.max_samples - drawn:
        return "decided"
    return None


def samples_before_stop(config: SelfConsistencyConfig, state: RunState) -> int:
    """Return the fewest more samples after which the vote could stop (at least 1).

    Even if every one of them agreed with the leader, the vote cannot stop sooner, so
    drawing them together (one batched decode on the embedded model) spends exactly what
    drawing them one by one would.

    Example:
        >>> samples_before_stop(SelfConsistencyConfig(min_samples=3), {"candidates": []})
        3
    """
    drawn, leader, runner_up = _standing(state)
    left = config.max_samples - drawn
    for more in range(1, left + 1):
        if _vote_ends(config, drawn + more, leader + more, runner_up) is not None:
            return more
    return max(1, left)


def stop_reason(
    config: SelfConsistencyConfig, state: RunState, context: RunContext
) -> StopReason | None:
    """Return why sampling should stop now, or ``None`` to draw another sample."""
    if state.get("stop_reason"):
        return state["stop_reason"]
    drawn, leader, runner_up = _standing(state)
    ended = _vote_ends(config, drawn, leader, runner_up)
    if ended is not None:
        return ended
    if drawn >= config.max_samples:
        return "exhausted"
    if refusing_limit(state, context, max_tokens=config.max_tokens) is not None:
        return "budget"
    return None


def build_self_consistency(
    config: SelfConsistencyConfig | None = None,
) -> CompiledStateGraph[RunState, RunContext, RunInput, RunOutput]:
    """Build the self-consistency graph.

    Example:
        >>> graph = build_self_consistency(SelfConsistencyConfig(max_samples=5))
        >>> sorted(graph.get_graph().nodes)
        ['__end__', '__start__', 'attempt', 'pause', 'prepare', 'select']
    """
    config = config or SelfConsistencyConfig()

    def reason(state: RunState, runtime: Runtime[RunContext]) -> StopReason | None:
        return stop_reason(config, state, runtime.context)

    def route(state: RunState, runtime: Runtime[RunContext]) -> SelfConsistencyRoute:
        stop = reason(state, runtime)
        return "attempt" if stop is None else end_route(stop, runtime.context)

    graph = StateGraph(
        RunState, context_schema=RunContext, input_schema=RunInput, output_schema=RunOutput
    )
    graph.add_node("prepare", prepare)
    graph.add_node(
        "attempt",
        attempt_node(
            prompt=config.prompt,
            temperature=config.temperature,
            max_tokens=config.max_tokens,
            per_step=functools.partial(samples_before_stop, config),
            max_candidates=config.max_samples,
        ),
    )
    graph.add_node("select", select_node("majority", reason))
    graph.add_edge(START, "prepare")
    graph.add_edge("prepare", "attempt")
    graph.add_conditional_edges("attempt", route)
    graph.add_node("pause", pause)
    graph.add_edge("pause", "attempt")
    graph.add_edge("select", END)
    return graph.compile(name="self-consistency")
