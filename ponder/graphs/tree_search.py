"""Tree search over reasoning steps: beam search, and Monte Carlo tree search with UCT.

The tree is plain data in the state: steps are candidates (kind ``step``) linked by
``parent_id``; ``frontier`` names the nodes to expand next; ``stats`` holds MCTS visit counts
and values by node id. Ids come from the state, so a search survives checkpoint and resume.

Beam search::

    prepare -> expand -> evaluate -> (route) -> prune -> expand ... -> select

Each round expands every frontier node into ``branching`` next steps, scores them (the
verifier for final answers, a value prompt for partial ones), and keeps the best
``beam_width`` unfinished steps as the next frontier.

Monte Carlo tree search (as in LATS)::

    prepare -> choose -> expand -> evaluate -> backup -> (route) -> choose ... -> select

``choose`` walks down from the root by UCT to a node with room for children; ``expand``
adds ``branching`` children; ``evaluate`` scores them; ``backup`` adds each child's value to
its ancestors' statistics.

Both stop when a final answer is accepted by the verifier (``verified``), when the search
runs out of depth or iterations or frontier (``exhausted``), or when the budget cannot
afford another round (``budget``). The answer is the best-scored final step's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from ponder.context import RunContext
from ponder.errors import ConfigurationError
from ponder.graphs._config import check_positive_int, check_temperature
from ponder.graphs._routing import end_route, refusing_limit
from ponder.nodes import prepare, select_node
from ponder.nodes.expand import evaluate_node, expand_node, is_terminal
from ponder.nodes.pause import pause
from ponder.state import ROOT_ID, Candidate, RunInput, RunOutput, RunState, SearchStats, StopReason

__all__ = (
    "BeamSearchConfig",
    "BeamRoute",
    "MctsConfig",
    "MctsRoute",
    "build_beam_search",
    "build_mcts",
    "uct",
)

BeamRoute = Literal["prune", "select", "pause"]
"""Where beam search goes after scoring: another round (``prune``) or ``select``."""

MctsRoute = Literal["choose", "select", "pause"]
"""Where Monte Carlo tree search goes after a backup: another round (``choose``) or
``select``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class BeamSearchConfig:
    """Options of beam search."""

    beam_width: int = 2
    """Unfinished steps kept per round."""
    branching: int = 2
    """Next steps drawn per frontier node."""
    max_depth: int = 4
    """Most steps in a solution."""
    temperature: float = 0.8
    """Sampling temperature of steps."""
    step_tokens: int = 64
    """Output cap of one step, in tokens."""
    accept_at: float = 1.0
    """A verifier score at or above this ends the search."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for name in ("beam_width", "branching", "max_depth", "step_tokens"):
            check_positive_int(owner, name, getattr(self, name))
        check_temperature(owner, self.temperature)

    @property
    def recursion_limit(self) -> int:
        """LangGraph super-steps the strategy can need."""
        return 3 * self.max_depth + 10


@dataclass(frozen=True, kw_only=True, slots=True)
class MctsConfig:
    """Options of Monte Carlo tree search."""

    iterations: int = 6
    """Most select-expand-evaluate-backup rounds."""
    branching: int = 2
    """Children drawn when a node is expanded."""
    max_depth: int = 4
    """Most steps in a solution."""
    exploration: float = 1.0
    """The UCT exploration weight ``c``."""
    temperature: float = 0.8
    """Sampling temperature of steps."""
    step_tokens: int = 64
    """Output cap of one step, in tokens."""
    accept_at: float = 1.0
    """A verifier score at or above this ends the search."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for name in ("iterations", "branching", "max_depth", "step_tokens"):
            check_positive_int(owner, name, getattr(self, name))
        check_temperature(owner, self.temperature)
        if not (math.isfinite(self.exploration) and self.exploration >= 0):
            raise ConfigurationError(f"{owner}.exploration must be >= 0, got {self.exploration}")

    @property
    def recursion_limit(self) -> int:
        """LangGraph super-steps the strategy can need."""
        return 4 * self.iterations + 10


def _depth(by_id: dict[str, Candidate], node_id: str) -> int:
    depth = 0
    seen: set[str] = set()
    while node_id != ROOT_ID and node_id in by_id and node_id not in seen:
        seen.add(node_id)
        depth += 1
        node_id = by_id[node_id]["parent_id"]
    return depth


def _steps(state: RunState) -> list[Candidate]:
    return [c for c in state.get("candidates", []) if c["kind"] == "step"]


def _search_stop(
    state: RunState, context: RunContext, *, needed: int, more: bool
) -> StopReason | None:
    if state.get("stop_reason"):
        return state["stop_reason"]
    if any(c["verdict"] == "accepted" for c in _steps(state)):
        return "verified"
    if not more:
        return "exhausted"
    if refusing_limit(state, context, max_tokens=needed) is not None:
        return "budget"
    return None


def build_beam_search(
    config: BeamSearchConfig | None = None,
) -> CompiledStateGraph[RunState, RunContext, RunInput, RunOutput]:
    """Build the beam-search graph.

    Example:
        >>> sorted(build_beam_search().get_graph().nodes)[2:]
        ['evaluate', 'expand', 'pause', 'prepare', 'prune', 'select']
    """
    config = config or BeamSearchConfig()

    def next_frontier(state: RunState) -> list[str]:
        steps = _steps(state)
        by_id = {c["id"]: c for c in steps}
        depth = max((_depth(by_id, c["id"]) for c in steps), default=0)
        if depth >= config.max_depth:
            return []
        newest = [c for c in steps if _depth(by_id, c["id"]) == depth and not is_terminal(c)]
        newest.sort(key=lambda c: -1.0 if c["score"] is None else c["score"], reverse=True)
        return [c["id"] for c in newest[: config.beam_width]]

    def reason(state: RunState, runtime: Runtime[RunContext]) -> StopReason | None:
        return _search_stop(
            state, runtime.context, needed=config.step_tokens,
            more=bool(next_frontier(state)),
        )  # fmt: skip

    def route(state: RunState, runtime: Runtime[RunContext]) -> BeamRoute:
        stop = reason(state, runtime)
        return "prune" if stop is None else end_route(stop, runtime.context)

    def prune(state: RunState) -> dict[str, Any]:
        return {"frontier": next_frontier(state)}

    def start(state: RunState) -> dict[str, Any]:
        return {**prepare(state), "frontier": [ROOT_ID]}

    graph = StateGraph(
        RunState, context_schema=RunContext, input_schema=RunInput, output_schema=RunOutput
    )
    graph.add_node("prepare", start)
    graph.add_node(
        "expand",
        expand_node(
            branching=config.branching,
            temperature=config.temperature,
            max_tokens=config.step_tokens,
        ),  # fmt: skip
    )
    graph.add_node("evaluate", evaluate_node(accept_at=config.accept_at))
    graph.add_node("prune", prune)
    graph.add_node("select", select_node("best_score", reason))
    graph.add_edge(START, "prepare")
    graph.add_edge("prepare", "expand")
    graph.add_edge("expand", "evaluate")
    graph.add_conditional_edges("evaluate", route)
    graph.add_edge("prune", "expand")
    graph.add_node("pause", pause)
    graph.add_edge("pause", "prune")
    graph.add_edge("select", END)
    return graph.compile(name="beam-search")


def uct(child: SearchStats, parent_visits: int, exploration: float) -> float:
    """Return the UCT score of a child: mean value plus the exploration bonus.

    An unvisited child scores infinity, so every child is tried once.
    """
    if child["visits"] == 0:
        return math.inf
    mean = child["value"] / child["visits"]
    return mean + exploration * math.sqrt(math.log(max(parent_visits, 1)) / child["visits"])


def choose_leaf(state: RunState, config: MctsConfig) -> list[str]:
    """Walk down from the root by UCT to a node with room for children.

    Subtrees with nothing left to expand (every child final, or at the depth limit) are
    skipped; an empty list means the whole tree is spent.
    """
    empty: SearchStats = {"visits": 0, "value": 0.0}
    steps = _steps(state)
    by_id = {c["id"]: c for c in steps}
    stats = state.get("stats", {})
    children: dict[str, list[Candidate]] = {}
    for step in steps:
        children.setdefault(step["parent_id"], []).append(step)

    def open_(node: str) -> bool:
        if node != ROOT_ID and (
            is_terminal(by_id[node]) or _depth(by_id, node) >= config.max_depth
        ):
            return False
        kids = children.get(node, [])
        return len(kids) < config.branching or any(open_(k["id"]) for k in kids)

    node = ROOT_ID
    if not open_(node):
        return []
    while len(children.get(node, [])) >= config.branching:
        visits = stats.get(node, empty)["visits"]
        candidates = [k for k in children[node] if open_(k["id"])]
        node = max(
            candidates, key=lambda c: uct(stats.get(c["id"], empty), visits, config.exploration)
        )["id"]
    return [node]


def build_mcts(
    config: MctsConfig | None = None,
) -> CompiledStateGraph[RunState, RunContext, RunInput, RunOutput]:
    """Build the Monte Carlo tree search graph.

    Example:
        >>> sorted(build_mcts().get_graph().nodes)[2:]
        ['backup', 'choose', 'evaluate', 'expand', 'pause', 'prepare', 'select']
    """
    config = config or MctsConfig()
    empty: SearchStats = {"visits": 0, "value": 0.0}

    def iterations_done(state: RunState) -> int:
        return state.get("stats", {}).get(ROOT_ID, empty)["visits"]

    def choose(state: RunState) -> dict[str, Any]:
        return {"frontier": choose_leaf(state, config)}

    def backup(state: RunState) -> dict[str, Any]:
        steps = _steps(state)
        by_id = {c["id"]: c for c in steps}
        stats = dict(state.get("stats", {}))
        frontier = state.get("frontier", [ROOT_ID])
        new = [c for c in steps if c["parent_id"] in frontier and c["id"] not in stats]
        for child in new:
            value = child["score"] if child["score"] is not None else 0.0
            node = child["id"]
            while True:
                seen = stats.get(node, empty)
                stats[node] = {"visits": seen["visits"] + 1, "value": seen["value"] + value}
                if node == ROOT_ID:
                    break
                node = by_id[node]["parent_id"] if node in by_id else ROOT_ID
        changed = {
            key: stats[key] for key in stats if stats[key] != state.get("stats", {}).get(key)
        }
        return {"stats": changed}

    def reason(state: RunState, runtime: Runtime[RunContext]) -> StopReason | None:
        more = iterations_done(state) < config.iterations * config.branching and bool(
            choose_leaf(state, config)
        )
        return _search_stop(state, runtime.context, needed=config.step_tokens, more=more)

    def route(state: RunState, runtime: Runtime[RunContext]) -> MctsRoute:
        stop = reason(state, runtime)
        return "choose" if stop is None else end_route(stop, runtime.context)

    graph = StateGraph(
        RunState, context_schema=RunContext, input_schema=RunInput, output_schema=RunOutput
    )
    graph.add_node("prepare", prepare)
    graph.add_node("choose", choose)
    graph.add_node(
        "expand",
        expand_node(
            branching=config.branching,
            temperature=config.temperature,
            max_tokens=config.step_tokens,
        ),  # fmt: skip
    )
    graph.add_node("evaluate", evaluate_node(accept_at=config.accept_at))
    graph.add_node("backup", backup)
    graph.add_node("select", select_node("best_score", reason))
    graph.add_edge(START, "prepare")
    graph.add_edge("prepare", "choose")
    graph.add_edge("choose", "expand")
    graph.add_edge("expand", "evaluate")
    graph.add_edge("evaluate", "backup")
    graph.add_conditional_edges("backup", route)
    graph.add_node("pause", pause)
    graph.add_edge("pause", "choose")
    graph.add_edge("select", END)
    return graph.compile(name="mcts")
