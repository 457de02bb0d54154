from __future__ import annotations

import pytest

from ponder.nodes import difficulty_node
from ponder.testing import ScriptedChatModel
from tests.nodes.helpers import run_node


async def test_probe_difficulty_is_disagreement() -> None:
    model = ScriptedChatModel(replies=["The answer is 7.", "The answer is 8.", "The answer is 7."])
    out = await run_node(difficulty_node("probe", probe_samples=3), {}, model)
    assert out["difficulty"] == pytest.approx(1 / 3)
    assert [c["kind"] for c in out["candidates"]] == ["probe"] * 3


async def test_rating_difficulty_parses_the_number() -> None:
    out = await run_node(difficulty_node("rating"), {}, ScriptedChatModel(replies=["7"]))
    assert out["difficulty"] == pytest.approx(6 / 9)


async def test_unusable_rating_is_recorded() -> None:
    out = await run_node(difficulty_node("rating"), {}, ScriptedChatModel(replies=["hard!"]))
    assert out["difficulty"] == 0.5
    assert out["errors"][0]["kind"] == "ModelOutputError"
