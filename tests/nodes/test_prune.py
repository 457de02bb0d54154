from __future__ import annotations

from typing import Any

from ponder.nodes import next_frontier, prune_node
from ponder.state import ROOT_ID


def step(id_: str, parent: str, score: float | None, answer: str | None = None) -> Any:
    return {"id": id_, "parent_id": parent, "kind": "step", "answer": answer, "score": score}


def test_prune_keeps_the_best_unfinished_steps_of_the_newest_layer() -> None:
    state: Any = {"candidates": [
        step("c0", ROOT_ID, 0.9), step("c1", "c0", 0.2), step("c2", "c0", None),
        step("c3", "c0", 0.8), step("c4", "c0", 1.0, answer="7"),
    ]}  # fmt: skip
    assert next_frontier(state, beam_width=2, max_depth=4) == ["c3", "c1"]
    assert prune_node(beam_width=1, max_depth=4)(state) == {"frontier": ["c3"]}
    assert next_frontier(state, beam_width=2, max_depth=2) == []  # at the depth limit
