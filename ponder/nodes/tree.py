"""Reading the reasoning tree: which candidate to work on, and the paths of tree search.

Candidates are the tree: each has an ``id`` and a ``parent_id`` (`ponder.state.ROOT_ID` for
a direct answer). Refinement chains grow from their newest leaf; a tree-search step
(kind ``step``) continues its parent, and the solution so far is the path from the root.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ponder.state import ROOT_ID, Candidate, RunState

__all__ = ("depth", "is_terminal", "latest_leaf", "path_text", "steps")


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


def steps(state: RunState) -> list[Candidate]:
    """Return the tree-search steps in the state, in the order drawn."""
    return [c for c in state.get("candidates", []) if c["kind"] == "step"]


def is_terminal(candidate: Candidate) -> bool:
    """Return whether a step states a final answer."""
    return candidate["kind"] == "step" and candidate["answer"] is not None


def depth(by_id: Mapping[str, Candidate], node_id: str) -> int:
    """Return how many steps lead from the root to ``node_id`` (0 for the root)."""
    found = 0
    seen: set[str] = set()
    while node_id != ROOT_ID and node_id in by_id and node_id not in seen:
        seen.add(node_id)  # a malformed tree with a cycle must not hang the run
        found += 1
        node_id = by_id[node_id]["parent_id"]
    return found


def path_text(by_id: Mapping[str, Candidate], node_id: str) -> str:
    """Return the solution so far: the step texts from the root to ``node_id``."""
    texts: list[str] = []
    seen: set[str] = set()
    while node_id != ROOT_ID and node_id in by_id and node_id not in seen:
        seen.add(node_id)  # a malformed tree with a cycle must not hang the run
        texts.append(by_id[node_id]["text"].strip())
        node_id = by_id[node_id]["parent_id"]
    return "\n".join(reversed(texts))
