from __future__ import annotations

from typing import Any

from ponder.nodes import depth, is_terminal, latest_leaf, path_text
from ponder.state import ROOT_ID


def node(id_: str, parent: str, kind: str = "step", text: str = "", answer: Any = None) -> Any:
    return {"id": id_, "parent_id": parent, "kind": kind, "text": text, "answer": answer}


def test_paths_and_depths_follow_parent_ids_and_survive_cycles() -> None:
    by_id = {"c0": node("c0", ROOT_ID, text="a"), "c1": node("c1", "c0", text="b")}
    assert path_text(by_id, "c1") == "a\nb" and depth(by_id, "c1") == 2
    cyclic = {"c0": node("c0", "c1", text="a"), "c1": node("c1", "c0", text="b")}
    assert depth(cyclic, "c0") == 2  # a malformed tree does not hang
    assert is_terminal(node("c2", "c1", answer="7")) and not is_terminal(by_id["c0"])


def test_latest_leaf_is_the_newest_unrefined_solution() -> None:
    chain = [node("c0", ROOT_ID, "attempt"), node("c1", "c0", "refine"), node("c2", ROOT_ID)]
    leaf = latest_leaf(chain)
    assert leaf is not None and leaf["id"] == "c1"  # steps are not solutions
    assert latest_leaf([]) is None
