from __future__ import annotations

import ponder
from ponder.nodes import refine_node
from ponder.testing import ScriptedChatModel
from tests.nodes.helpers import run_node


async def test_the_refinement_is_a_child_of_the_critiqued_solution() -> None:
    draft = await ponder.asolve("q", model=ScriptedChatModel(replies=["The answer is 8."]),
                                max_samples=1)  # fmt: skip
    critiqued = [{**draft.candidates[0], "critique": "3 + 4 is 7."}]
    model = ScriptedChatModel(replies=["3 + 4 = 7. The answer is 7."])
    out = await run_node(refine_node(), {"candidates": critiqued}, model, seed=5)
    child = out["candidates"][-1]
    assert (child["id"], child["parent_id"], child["kind"], child["answer"]) == (
        "c1", "c0", "refine", "7",
    )  # fmt: skip
    assert model.calls[0]["seed"] == 6  # seed + the child's index


async def test_nothing_to_refine_without_a_critique() -> None:
    draft = await ponder.asolve("q", model=ScriptedChatModel(replies=["The answer is 8."]),
                                max_samples=1)  # fmt: skip
    model = ScriptedChatModel(replies=["x"])
    out = await run_node(refine_node(), {"candidates": draft.candidates}, model)
    assert len(out["candidates"]) == 1 and model.calls == []
