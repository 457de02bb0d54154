from __future__ import annotations

import ponder
from ponder.nodes import critique_node, finds_nothing
from ponder.testing import ScriptedChatModel
from tests.nodes.helpers import run_node


def test_finds_nothing_reads_a_clean_critique() -> None:
    assert finds_nothing("No errors.") and finds_nothing("  ") and not finds_nothing("Wrong sum")


async def test_the_critique_is_stored_on_the_latest_solution() -> None:
    draft = await ponder.asolve("q", model=ScriptedChatModel(replies=["The answer is 8."]),
                                max_samples=1)  # fmt: skip
    model = ScriptedChatModel(replies=["3 + 4 is 7, not 8."])
    out = await run_node(critique_node(), {"candidates": draft.candidates}, model)
    assert out["candidates"][0]["critique"] == "3 + 4 is 7, not 8."
    assert out["ledger"][0]["candidate_id"] == "c0"


async def test_a_refused_critique_stops_the_run() -> None:
    draft = await ponder.asolve("q", model=ScriptedChatModel(replies=["The answer is 8."]),
                                max_samples=1)  # fmt: skip
    spent = {
        "candidates": draft.candidates, "ledger": draft.ledger,
        "budget": ponder.Budget(calls=1).to_limits(),
    }  # fmt: skip
    out = await run_node(critique_node(), spent, ScriptedChatModel(replies=["x"]))
    assert out["stop_reason"] == "budget" and out["candidates"][0]["critique"] is None
