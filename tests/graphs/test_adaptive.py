from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import BaseMessage

import ponder
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
        # ... and spends what it can. A run that made no call says the budget could not
        # afford one; 1200 tokens afford a probe (its prompt bound plus min_tokens is a few
        # hundred); 5000 afford the attempts phase, whose program finds 7.
        assert result.usage.calls == len(result.ledger)
        if result.usage.calls == 0:
            assert result.candidates == []
            assert any("cannot afford a single call" in e["message"] for e in result.errors)
        else:
            assert result.candidates and result.candidates[0]["kind"] == "probe"
        if tokens >= 1200:
            assert result.usage.calls >= 1
        if tokens >= 5000:
            assert result.stop_reason == "verified" and result.answer == "7"


@pytest.mark.parametrize("calls", [2, 6, 9])
async def test_a_top_up_reaches_the_phase_that_ran_out(calls: int, tmp_path: Any) -> None:
    """Before, an adaptive run paused by a calls budget stayed paused after a top-up (its plan
    kept the old grant, and a nested phase's top-up was lost when it returned), and a run
    paused inside a nested phase reported only the calls made before that phase."""
    from ponder import runs

    def model() -> ScriptedChatModel:
        return ScriptedChatModel(
            reply_fn=lambda m, k: f"2 + 2 = 4. The answer is {k.get('seed', 0) % 3}."
        )

    db = f"sqlite:///{tmp_path / 'runs.db'}"
    paused = await ponder.asolve(
        "What is 2+2?", "adaptive", model=model(), budget={"calls": calls}, db=db, run_id="a"
    )
    assert paused.status == "paused" and paused.usage.calls == calls  # nested calls counted
    done = await runs.aresume("a", db=db, add_calls=20, model=model())
    assert done.status == "done" and calls < done.usage.calls <= calls + 20
    [record] = await runs.alist_runs(db=db)
    assert record["calls"] == done.usage.calls
