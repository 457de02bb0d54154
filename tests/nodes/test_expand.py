from __future__ import annotations

from typing import Any

from ponder.nodes import expand_node
from ponder.testing import ScriptedChatModel
from tests.nodes.helpers import run_node


async def test_a_failed_call_in_a_tree_layer_keeps_the_calls_after_it() -> None:
    def reply(messages: list[Any], kwargs: dict[str, Any]) -> str:
        if kwargs["seed"] == 1:
            raise RuntimeError("one call of the layer fails")
        return "Step: add them."

    model = ScriptedChatModel(reply_fn=reply)
    state = await run_node(expand_node(branching=3), {"candidates": []}, model, seed=0)
    assert len(state["ledger"]) == 3  # the failed call and the one after it are charged
    assert [c["id"] for c in state["candidates"]] == ["c0", "c2"]
    assert state["stop_reason"] == "error"


async def test_a_final_step_takes_its_answer_from_the_whole_path() -> None:
    model = ScriptedChatModel(replies=["So the answer is 7."])
    state = await run_node(expand_node(branching=2), {"candidates": []}, model)
    assert [(c["kind"], c["parent_id"], c["answer"]) for c in state["candidates"]] == [
        ("step", "root", "7"), ("step", "root", "7"),
    ]  # fmt: skip
