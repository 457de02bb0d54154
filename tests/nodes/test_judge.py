from __future__ import annotations

import pytest

import ponder
from ponder.nodes import judge_node
from ponder.testing import ScriptedChatModel
from tests.nodes.helpers import run_node


async def test_judge_scores_from_text_and_records_unusable_judgments() -> None:
    seed = await ponder.asolve(
        "q", model=ScriptedChatModel(replies=["The answer is 7."]), max_samples=2
    )
    model = ScriptedChatModel(replies=["Score: 9", "I cannot tell."])
    out = await run_node(judge_node(), {"candidates": seed.candidates}, model)
    first, second = out["candidates"]
    assert (first["verdict"], first["score"]) == ("accepted", pytest.approx(0.9))
    assert second["verdict"] == "unverified" and second["score"] is None
    assert "unusable judgment" in second["reason"]
    assert len(out["ledger"]) == 2
