from __future__ import annotations

import ponder
from ponder.testing import ScriptedChatModel

WRONG = "3 + 4 makes 8. The answer is 8."  # a wrong answer, not a slip to repair
RIGHT = "3 + 4 = 7. The answer is 7."


async def test_refines_until_the_critique_finds_nothing() -> None:
    model = ScriptedChatModel(replies=[WRONG, "Error: 3 + 4 is 7, not 8.", RIGHT, "No errors."])
    result = await ponder.asolve("3 + 4 =", "refine", model=model)
    assert result.answer == "7"
    assert result.stop_reason == "converged"
    draft, refined = result.candidates
    assert (draft["kind"], refined["kind"], refined["parent_id"]) == ("attempt", "refine", "c0")
    assert draft["critique"] == "Error: 3 + 4 is 7, not 8."
    assert refined["critique"] == "No errors."


async def test_stops_as_soon_as_the_verifier_accepts() -> None:
    model = ScriptedChatModel(replies=[WRONG, "Wrong sum.", RIGHT, "unused"])
    result = await ponder.asolve(
        "3 + 4 =", "refine", model=model, verifier=ponder.ExpectedAnswer("7")
    )
    assert result.stop_reason == "verified"
    assert [c["verdict"] for c in result.candidates] == ["rejected", "accepted"]
    assert result.usage.calls == 3


async def test_max_rounds_bounds_the_loop() -> None:
    model = ScriptedChatModel(replies=[WRONG, "Still wrong."])
    result = await ponder.asolve("3 + 4 =", "refine", model=model, max_rounds=2)
    assert result.stop_reason == "exhausted"
    assert sum(c["kind"] == "refine" for c in result.candidates) == 2


async def test_budget_ends_the_loop_cleanly() -> None:
    model = ScriptedChatModel(replies=[WRONG, "Still wrong."])
    result = await ponder.asolve(
        "3 + 4 =", "refine", model=model, budget=ponder.Budget(calls=2), max_rounds=5
    )
    assert result.usage.calls <= 2
    assert result.stop_reason == "budget"
    assert result.answer == "8"
