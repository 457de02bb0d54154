"""Which candidate a critique or refinement works on."""

from __future__ import annotations

from collections.abc import Sequence

from ponder.state import Candidate

__all__ = ("latest_leaf",)


def latest_leaf(candidates: Sequence[Candidate]) -> Candidate | None:
    """Return the newest candidate that has an answer-bearing solution and no children.

    Refinement chains grow from their leaf, so this is the solution to critique (or, once
    critiqued, to refine) next.
    """
    parents = {candidate["parent_id"] for candidate in candidates}
    for candidate in reversed(candidates):
        if candidate["id"] not in parents and candidate["kind"] in ("attempt", "refine", "program"):
            return candidate
    return None
