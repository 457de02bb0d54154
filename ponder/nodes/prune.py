"""The prune node of beam search: keep the best few of the newest steps as the frontier.

The newest layer is the deepest one; its unfinished steps (no final answer) are ranked by
score (unscored last) and the best ``beam_width`` become the ``frontier`` to expand next. At
``max_depth``, or with nothing unfinished, the frontier is empty.
"""

from __future__ import annotations

from typing import Any

from ponder.nodes.tree import depth, is_terminal, steps
from ponder.state import RunState

__all__ = ("next_frontier", "prune_node")


def next_frontier(state: RunState, *, beam_width: int, max_depth: int) -> list[str]:
    """Return the ids of the steps to expand next (see the module docstring)."""
    drawn = steps(state)
    by_id = {c["id"]: c for c in drawn}
    deepest = max((depth(by_id, c["id"]) for c in drawn), default=0)
    if deepest >= max_depth:
        return []
    newest = [c for c in drawn if depth(by_id, c["id"]) == deepest and not is_terminal(c)]
    newest.sort(key=lambda c: -1.0 if c["score"] is None else c["score"], reverse=True)
    return [c["id"] for c in newest[:beam_width]]


def prune_node(*, beam_width: int, max_depth: int) -> Any:
    """Return the node that sets ``frontier`` to `next_frontier`."""

    def prune(state: RunState) -> dict[str, Any]:
        return {"frontier": next_frontier(state, beam_width=beam_width, max_depth=max_depth)}

    return prune
