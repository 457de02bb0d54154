from __future__ import annotations

from typing import Any

import ponder
from ponder.nodes import evaluate_node
from ponder.state import ROOT_ID
from ponder.testing import ScriptedChatModel
from tests.nodes.helpers import run_node


def step(id_: str, answer: str | None) -> Any:
    return {
        "id": id_, "parent_id": ROOT_ID, "kind": "step", "node": "expand", "prompt": "expand",
        "text": f"so the answer is {answer}" if answer else "add them", "answer": answer,
        "score": None, "verdict": None, "reason": None, "critique": None, "temperature": 0.8,
        "seed": 0, "tokens_in": 1, "tokens_out": 1, "latency_s": 0.0, "finish_reason": "stop",
    }  # fmt: skip


async def test_final_steps_are_verified_and_partial_ones_valued() -> None:
    model = ScriptedChatModel(replies=["Score: 8"])
    out = await run_node(
        evaluate_node(), {"candidates": [step("c0", "7"), step("c1", None)]}, model,
        verifier=ponder.ExpectedAnswer("7"),
    )  # fmt: skip
    final, partial = out["candidates"]
    assert (final["verdict"], final["score"]) == ("accepted", 1.0)
    assert partial["score"] == 0.8 and partial["verdict"] is None
    assert len(out["ledger"]) == 1  # only the value prompt calls the model
