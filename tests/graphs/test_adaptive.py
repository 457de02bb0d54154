from __future__ import annotations

from typing import Any

from langchain_core.messages import BaseMessage

import ponder
from ponder.budget import Budget
from ponder.graphs import AdaptiveConfig, make_plan
from ponder.testing import ScriptedChatModel


def model(probe: str, program: str = "print(3 + 4)") -> ScriptedChatModel:
    def reply(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        if "Python program" in messages[0].text:
            return f"```python\n{program}\n```"
        return probe

    return ScriptedChatModel(reply_fn=reply)


async def test_easy_problem_stops_at_the_probes() -> None:
    result = await ponder.asolve("3 + 4 =", "adaptive", model=model("The answer is 7."))
    assert result.stop_reason == "converged"
    assert [c["kind"] for c in result.candidates] == ["probe"] * 3
    assert result.answer == "7"


async def test_doubt_escalates_to_parallel_attempts_and_a_program() -> None:
    result = await ponder.asolve(
        "3 + 4 =",
        "adaptive",
        model=model("The answer is 8."),
        verifier=ponder.ExpectedAnswer("7"),
    )
    assert result.answer == "7"
    assert result.stop_reason == "verified"
    kinds = [c["kind"] for c in result.candidates]
    assert kinds[:3] == ["probe"] * 3
    assert "program" in kinds
    accepted = [c for c in result.candidates if c["verdict"] == "accepted"]
    assert accepted[0]["kind"] == "program"


async def test_a_failing_program_is_a_candidate_without_answer() -> None:
    result = await ponder.asolve(
        "3 + 4 =",
        "adaptive",
        model=model("The answer is 8.", program="1/0"),
        verifier=ponder.ExpectedAnswer("7"),
        budget=ponder.Budget(tokens=6000),
    )
    program = next(c for c in result.candidates if c["kind"] == "program")
    assert program["answer"] is None
    assert "ZeroDivisionError" in (program["reason"] or "")


async def test_adaptive_never_exceeds_its_budget() -> None:
    for tokens in (300, 1200, 5000):
        result = await ponder.asolve(
            "3 + 4 =",
            "adaptive",
            model=model("The answer is 8."),
            verifier=ponder.ExpectedAnswer("7"),
            budget=ponder.Budget(tokens=tokens),
        )
        assert result.usage.tokens <= tokens


def test_plan_scales_with_difficulty_and_caps_at_the_budget() -> None:
    config = AdaptiveConfig()
    easy = make_plan(config, 0.0, Budget(tokens=100_000), 0)
    hard = make_plan(config, 1.0, Budget(tokens=100_000), 0)
    assert easy["allotment"] == config.min_allotment and easy["phases"] == ["attempts"]
    assert hard["allotment"] == config.tokens_per_difficulty
    assert hard["phases"] == ["attempts", "refine", "search"]
    capped = make_plan(config, 1.0, Budget(tokens=3000), 1000)
    assert capped["allotment"] == 2000 and capped["phases"] == ["attempts", "refine"]
    # The default budget (4,000 tokens) affords every phase on a hard problem.
    default = make_plan(config, 1.0, ponder.DEFAULT_BUDGET, 400)
    assert default["phases"] == ["attempts", "refine", "search"]
