from __future__ import annotations

import pytest

import ponder
from ponder.errors import ConfigurationError
from ponder.nodes import verify_node
from ponder.testing import ScriptedChatModel
from tests.nodes.helpers import run_node


async def test_verdicts_follow_the_acceptance_threshold() -> None:
    drawn = await ponder.asolve("q", model=ScriptedChatModel(replies=["The answer is 7."]),
                                max_samples=2, agreement=1.0, min_samples=2)  # fmt: skip
    model = ScriptedChatModel(replies=["x"])
    out = await run_node(verify_node(), {"candidates": drawn.candidates}, model,
                         verifier=lambda problem, candidate: 0.6)  # fmt: skip
    assert [c["verdict"] for c in out["candidates"]] == ["rejected", "rejected"]
    out = await run_node(verify_node(accept_at=0.5), {"candidates": drawn.candidates}, model,
                         verifier=lambda problem, candidate: 0.6)  # fmt: skip
    assert [c["verdict"] for c in out["candidates"]] == ["accepted", "accepted"]


async def test_a_verifier_is_needed_unless_optional() -> None:
    model = ScriptedChatModel(replies=["x"])
    with pytest.raises(ConfigurationError, match="needs a verifier"):
        await run_node(verify_node(), {"candidates": []}, model)
    assert (await run_node(verify_node(optional=True), {"candidates": []}, model))[
        "candidates"
    ] == []
