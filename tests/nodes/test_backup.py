from __future__ import annotations

from typing import Any

from ponder.nodes import backup, iterations_done
from ponder.state import ROOT_ID


def test_backup_adds_each_new_child_to_its_ancestors() -> None:
    def step(id_: str, parent: str, score: float | None) -> Any:
        return {"id": id_, "parent_id": parent, "kind": "step", "answer": None, "score": score}

    state: Any = {
        "candidates": [step("c0", ROOT_ID, 0.5), step("c1", "c0", 1.0), step("c2", "c0", None)],
        "stats": {ROOT_ID: {"visits": 1, "value": 0.5}, "c0": {"visits": 1, "value": 0.5}},
        "frontier": ["c0"],
    }
    update = backup(state)["stats"]
    assert update[ROOT_ID] == {"visits": 3, "value": 1.5}
    assert update["c0"] == {"visits": 3, "value": 1.5}
    assert update["c1"] == {"visits": 1, "value": 1.0}
    assert update["c2"] == {"visits": 1, "value": 0.0}  # unscored counts as 0
    after: Any = {**state, "stats": update}
    assert iterations_done(after) == 3
