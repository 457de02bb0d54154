"""The choose node of Monte Carlo tree search: walk down the tree by UCT to expand next.

From the root, each level takes the child with the highest UCT score (mean value plus an
exploration bonus, `uct`) among the children with room below them, until a node with fewer
than ``branching`` children: that node is the new ``frontier``. Subtrees with nothing left to
expand (every child final, or at the depth limit) are skipped; an empty frontier means the
whole tree is spent.
"""

from __future__ import annotations

import math
from typing import Any

from ponder.nodes.tree import depth, is_terminal, steps
from ponder.state import ROOT_ID, Candidate, RunState, SearchStats

__all__ = ("EMPTY_STATS", "choose_leaf", "choose_node", "uct")

EMPTY_STATS: SearchStats = {"visits": 0, "value": 0.0}
"""The statistics of a node no simulation has passed through."""


def uct(child: SearchStats, parent_visits: int, exploration: float) -> float:
    """Return the UCT score of a child: mean value plus the exploration bonus.

    An unvisited child scores infinity, so every child is tried once.

    Example:
        >>> uct({"visits": 0, "value": 0.0}, 3, 1.0)
        inf
    """
    if child["visits"] == 0:
        return math.inf
    mean = child["value"] / child["visits"]
    return mean + exploration * math.sqrt(math.log(max(parent_visits, 1)) / child["visits"])


def choose_leaf(
    state: RunState, *, branching: int, max_depth: int, exploration: float
) -> list[str]:
    """Return ``[node]`` to expand next, or ``[]`` when the tree is spent (module docstring)."""
    drawn = steps(state)
    by_id = {c["id"]: c for c in drawn}
    stats = state.get("stats", {})
    children: dict[str, list[Candidate]] = {}
    for step in drawn:
        children.setdefault(step["parent_id"], []).append(step)

    def open_(node: str) -> bool:
        if node != ROOT_ID and (is_terminal(by_id[node]) or depth(by_id, node) >= max_depth):
            return False
        kids = children.get(node, [])
        return len(kids) < branching or any(open_(k["id"]) for k in kids)

    node = ROOT_ID
    if not open_(node):
        return []
    while len(children.get(node, [])) >= branching:
        visits = stats.get(node, EMPTY_STATS)["visits"]
        options = [k for k in children[node] if open_(k["id"])]
        node = max(
            options, key=lambda c: uct(stats.get(c["id"], EMPTY_STATS), visits, exploration)
        )["id"]
    return [node]


def choose_node(*, branching: int, max_depth: int, exploration: float) -> Any:
    """Return the node that sets ``frontier`` to the leaf `choose_leaf` picks."""

    def choose(state: RunState) -> dict[str, Any]:
        return {
            "frontier": choose_leaf(
                state, branching=branching, max_depth=max_depth, exploration=exploration
            )
        }

    return choose
