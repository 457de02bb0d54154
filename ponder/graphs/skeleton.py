"""The skeleton every strategy shares, and the spec that describes a strategy to ponder.

Every strategy graph has the same frame::

    START -> prepare -> <the strategy's first node> ... -> select -> END
                                 ^
    pause (a persisted run out of budget waits here for a top-up) -> <where it resumes>

`Skeleton` builds that frame (the graph constructor with ponder's state, context, input and
output schemas; ``prepare``, ``pause`` and ``select`` with their edges); a strategy module
adds only its own nodes and edges, routes its loops with `Skeleton.loop`, and states when to
stop with `stop_rule`, which puts the checks every strategy shares around the strategy's own:

1. a candidate was accepted by the verifier (``verified``), for strategies that verify;
2. a node already recorded why the run must stop (``budget``, ``error``);
3. the strategy's own rule (``converged``, ``decided``, ``exhausted``...);
4. the budget cannot afford the next call (``budget``).

A strategy module exports a `StrategySpec` beside its builder; `ponder.graphs.registry`
collects them, and ``solve``, the command line and ``ponder bench`` read everything they
need about a strategy from its spec.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, cast

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import merge_configs
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from ponder.context import RunContext, context_of, usage_of
from ponder.events import PonderEvent, emit, emitting, forwarding, nested, writer_of
from ponder.graphs.config import StrategyConfig
from ponder.nodes import ConfidenceVote, SelectMethod, pause, prepare, select_node
from ponder.persistence.runs import strategy_marks
from ponder.state import RunInput, RunOutput, RunState, StopReason

__all__ = (
    "EndRoute",
    "StopRule",
    "StrategyBuilder",
    "StrategyGraph",
    "Skeleton",
    "StrategySpec",
    "end_route",
    "refusing_limit",
    "stop_rule",
)

StrategyGraph = CompiledStateGraph[RunState, RunContext, RunInput, RunOutput]
"""A compiled strategy graph."""

StopRule = Callable[[RunState, Runtime[RunContext]], StopReason | None]
"""Why a strategy must stop now (``None``: go on); see `stop_rule`."""

EndRoute = Literal["pause", "select"]
"""How a strategy ends: ``select`` its answer, or ``pause`` a persisted run out of budget."""


class StrategyBuilder(Protocol):
    """Builds a strategy's compiled graph from its config."""

    def __call__(
        self, config: Any = None, *, checkpointer: BaseCheckpointSaver[Any] | None = None
    ) -> StrategyGraph:
        """Return the compiled graph (with ``checkpointer``, when one is given)."""
        ...


def _never(config: Any) -> str | None:
    return None


@dataclass(frozen=True, kw_only=True, slots=True)
class StrategySpec:
    """Everything ponder needs to know about one strategy, exported beside its builder.

    Example:
        >>> from ponder.graphs import STRATEGIES
        >>> STRATEGIES["best-of-n"].candidate_limit
        'n'
    """

    name: str
    """The strategy's name (what ``solve(strategy=...)`` and ``--strategy`` take)."""
    summary: str
    """One line on what it does."""
    config_type: type[StrategyConfig]
    """Its options."""
    build: StrategyBuilder
    """Builds the compiled graph from a config."""
    candidate_limit: str
    """The option that says how much to try (what ``ponder solve -n`` sets)."""
    needs_verifier: bool = False
    """Whether a run needs ``verifier=``."""
    bench_options: Mapping[str, Any] = field(default_factory=dict)
    """Options for ``ponder bench``: limits loose enough for the token budget to bind."""
    needs_persistence: Callable[[Any], str | None] = _never
    """Given a config, why a run with it must be persisted (``None`` when it need not)."""


def end_route(reason: StopReason, context: RunContext, state: RunState | None = None) -> EndRoute:
    """Return ``pause`` when the budget stopped a run that can be resumed, else ``select``.

    With ``state``: when what ran out is a phase's grant (``phase_limit``, set by an
    enclosing strategy) while the run's own budget still affords a call, the phase ends
    (``select``) instead of pausing: a top-up of the run would not be what it lacks.
    """
    if reason != "budget" or not context.pause_on_budget:
        return "select"
    if state is not None and state.get("phase_limit") is not None:
        unphased = cast(RunState, {**state, "phase_limit": None})
        if refusing_limit(unphased, context, max_tokens=context.min_tokens) is None:
            return "select"
    return "pause"


def refusing_limit(state: RunState, context: RunContext, *, max_tokens: int) -> str | None:
    """Return the budget limit that would refuse another call, or ``None`` if it fits.

    The next prompt is assumed as long as the last candidate's (an attempt prompt does not
    change between samples); before the first candidate only the call count and wall time can
    be judged, and the node checks the exact prompt itself.
    """
    budget, usage = usage_of(state, context)
    candidates = state.get("candidates", [])
    prompt_tokens = candidates[-1]["tokens_in"] if candidates else 0
    return context.plan(
        budget, usage, prompt_tokens=prompt_tokens, max_tokens=max_tokens,
        first=usage.calls == 0,
    ).refused_by  # fmt: skip


def stop_rule(
    *,
    tokens_needed: int,
    own: Callable[[RunState], StopReason | None],
    verifies: bool = True,
) -> StopRule:
    """Return a strategy's stopping rule: the shared checks around its ``own`` (module doc).

    Args:
        tokens_needed: The output tokens the strategy's next step needs.
        own: The strategy's own rule, on the state.
        verifies: Whether an accepted candidate ends the strategy.
    """

    def reason(state: RunState, runtime: Runtime[RunContext]) -> StopReason | None:
        if verifies and any(c["verdict"] == "accepted" for c in state.get("candidates", [])):
            return "verified"
        stored = state.get("stop_reason")
        if stored:
            return stored
        ended = own(state)
        if ended is not None:
            return ended
        if refusing_limit(state, context_of(runtime.context), max_tokens=tokens_needed) is not None:
            return "budget"
        return None

    return reason


class Skeleton:
    """The frame of a strategy graph (see the module docstring); a strategy adds its own.

    Args:
        name: The strategy's name (the compiled graph's).
        first: The node ``prepare`` leads to.
        resume_at: The node a paused run resumes at.
        select: How ``select`` chooses the answer (or a function of the state giving it).
        reason: The strategy's stopping rule (``select`` records it; `loop` routes by it).
        prepare_node: A ``prepare`` node of the strategy's own (it must do what
            `ponder.nodes.prepare` does).
        vote: The settings of a confidence vote, when ``select`` is one.

    Example:
        >>> from ponder.nodes import attempt_node
        >>> rule = stop_rule(tokens_needed=64, own=lambda state: None, verifies=False)
        >>> frame = Skeleton("sampler", first="attempt", resume_at="attempt",
        ...                  select="majority", reason=rule)
        >>> node = attempt_node(prompt="few_shot", temperature=0.7, max_tokens=64,
        ...                     max_candidates=4)
        >>> graph = frame.node("attempt", node).loop("attempt", "attempt").compile()
        >>> sorted(graph.get_graph().nodes)
        ['__end__', '__start__', 'attempt', 'pause', 'prepare', 'select']
    """

    def __init__(
        self,
        name: str,
        *,
        first: str,
        resume_at: str,
        select: SelectMethod | Callable[[RunState], SelectMethod],
        reason: StopRule,
        prepare_node: Any = None,
        vote: ConfidenceVote | None = None,
    ) -> None:
        self.name = name
        self.reason = reason
        self.graph: StateGraph[RunState, RunContext, RunInput, RunOutput] = StateGraph(
            RunState, context_schema=RunContext, input_schema=RunInput, output_schema=RunOutput
        )
        self.graph.add_node("prepare", emitting(_announcing(name, prepare_node or prepare),
                                                name="prepare"))  # fmt: skip
        self.graph.add_node("pause", pause)
        self.graph.add_node("select", emitting(select_node(select, reason, vote=vote),
                                               name="select"))  # fmt: skip
        self.graph.add_edge(START, "prepare")
        self.graph.add_edge("prepare", first)
        self.graph.add_edge("pause", resume_at)
        self.graph.add_edge("select", END)

    def node(self, name: str, action: Any, **options: Any) -> Skeleton:
        """Add the strategy's node ``name`` (LangGraph's ``add_node`` options pass through).

        A plain function emits its progress events (`ponder.events.emitting`), as ponder's
        own nodes (and nested strategies) do.
        """
        if inspect.isfunction(action):
            action = emitting(action, name=name)
        self.graph.add_node(name, action, **options)
        return self

    def edge(self, source: str, target: str) -> Skeleton:
        """Add an edge from ``source`` to ``target``."""
        self.graph.add_edge(source, target)
        return self

    def loop(self, source: str, go: str | None) -> Skeleton:
        """Route ``source`` to ``go`` while the stopping rule says go on, else to the end.

        With ``go=None`` the strategy has no next step after ``source`` (self-consistency
        of one sample): it always ends there, selecting or pausing, and the drawn graph shows
        no loop that no run could take.
        """
        reason = self.reason

        def route(state: RunState, runtime: Runtime[RunContext]) -> str:
            stop = reason(state, runtime)
            if stop is None:
                return go or "select"
            return end_route(stop, context_of(runtime.context), state)

        route.__name__ = f"after_{source}"
        ends = ["select", "pause"] if go is None else [go, "select", "pause"]
        self.graph.add_conditional_edges(source, route, ends)
        return self

    def compile(self, checkpointer: BaseCheckpointSaver[Any] | None = None) -> StrategyGraph:
        """Compile the strategy's graph under its name, with ``checkpointer`` when given.

        The graph hands its caller's stream writer down to its nodes, so that its progress
        events reach the outermost stream when it runs nested (`ponder.events.forwarding`),
        and marks its checkpoints as a ponder strategy's (`ponder.persistence.runs.strategy_marks`),
        so that `ponder runs` and `ponder show` find it inside a user's own graph.
        """
        graph = self.graph.compile(checkpointer=checkpointer, name=self.name)
        graph.config = merge_configs(graph.config, {"configurable": strategy_marks(self.name)})
        forwarding(graph)
        return graph


def _announcing(name: str, prepare_node: Any) -> Any:
    """``prepare_node``, emitting a ``phase`` event when the strategy runs nested."""
    takes_config = "config" in inspect.signature(prepare_node).parameters

    def prepare_and_announce(state: RunState, config: RunnableConfig) -> Any:
        update = prepare_node(state, config) if takes_config else prepare_node(state)
        if nested(config):
            event = PonderEvent(ponder="phase", node="prepare", phase=name)
            emit(writer_of(None, config), event, config)
        return update

    return prepare_and_announce
