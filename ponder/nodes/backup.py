"""The backup node of Monte Carlo tree search: add each new child's value to its ancestors.

After ``evaluate`` scores the children ``expand`` drew under the frontier, every new child's
value (its score, 0 when it has none) is added to the visit count and value sum of the child
and of each of its ancestors up to the root. Only the statistics that changed are written.
"""

from __future__ import annotations

from typing import Any

from ponder.nodes.choose import EMPTY_STATS
from ponder.nodes.tree import steps
from ponder.state import ROOT_ID, RunState

__all__ = ("backup", "iterations_done")


def iterations_done(state: RunState) -> int:
    """Return how many simulations have been backed up (the root's visit count)."""
    return state.get("stats", {}).get(ROOT_ID, EMPTY_STATS)["visits"]


def backup(state: RunState) -> dict[str, Any]:
    """Back up the values of the children drawn under the frontier (module docstring)."""
    drawn = steps(state)
    by_id = {c["id"]: c for c in drawn}
    before = state.get("stats", {})
    stats = dict(before)
    frontier = state.get("frontier", [ROOT_ID])
    new = [c for c in drawn if c["parent_id"] in frontier and c["id"] not in stats]
    for child in new:
        value = child["score"] if child["score"] is not None else 0.0
        node = child["id"]
        while True:
            seen = stats.get(node, EMPTY_STATS)
            stats[node] = {"visits": seen["visits"] + 1, "value": seen["value"] + value}
            if node == ROOT_ID:
                break
            node = by_id[node]["parent_id"] if node in by_id else ROOT_ID
    return {"stats": {key: value for key, value in stats.items() if value != before.get(key)}}
