from __future__ import annotations

from typing import Any

from ponder.nodes import choose_leaf, uct
from ponder.state import ROOT_ID


def step(id_: str, parent: str, answer: str | None = None) -> Any:
    return {"id": id_, "parent_id": parent, "kind": "step", "answer": answer, "score": None}


def test_uct_prefers_unvisited_then_value() -> None:
    assert uct({"visits": 0, "value": 0.0}, 10, 1.0) == float("inf")
    good = uct({"visits": 4, "value": 3.6}, 10, 0.0)
    bad = uct({"visits": 4, "value": 0.4}, 10, 0.0)
    assert good > bad


def test_choose_walks_to_the_best_open_child_and_skips_spent_subtrees() -> None:
    state: Any = {
        "candidates": [step("c0", ROOT_ID), step("c1", ROOT_ID, answer="7")],
        "stats": {ROOT_ID: {"visits": 2, "value": 1.0}, "c0": {"visits": 1, "value": 0.1},
                  "c1": {"visits": 1, "value": 0.9}},
    }  # fmt: skip
    # c1 scores higher but is final: only c0 has room below it.
    assert choose_leaf(state, branching=2, max_depth=3, exploration=1.0) == ["c0"]
    empty: Any = {"candidates": []}
    assert choose_leaf(empty, branching=2, max_depth=3, exploration=1.0) == [ROOT_ID]
    assert choose_leaf(state, branching=2, max_depth=1, exploration=1.0) == []
