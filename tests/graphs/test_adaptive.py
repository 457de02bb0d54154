from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import BaseMessage

import ponder
from ponder.errors import ConfigurationError
from ponder.graphs.adaptive import AdaptiveConfig
from ponder.nodes.plan import Action, AllocationPolicy
from ponder.testing import ScriptedChatModel

GREEDY_WHEN_AGREED = AllocationPolicy(bins={
    "3/3": Action(samples=1, select="anchored"),
    "*": Action(samples=6, programs=2, select="anchored"),
})  # fmt: skip


def model(probe: str, program: str = "print(3 + 4)") -> ScriptedChatModel:
    def reply(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        if "Python program" in messages[0].text:
            return f"```python\n{program}\n```"
        return probe

    return ScriptedChatModel(reply_fn=reply)


async def test_easy_problem_stops_at_the_probes() -> None:
    result = await ponder.asolve(
        "3 + 4 =", "adaptive", model=model("The answer is 7."), allocation=GREEDY_WHEN_AGREED
    )
    assert result.stop_reason == "converged"
    assert result.plan is not None and result.plan["bin"] == "3/3"
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
        # afford one; 1200 tokens afford a probe (its prompt bound plus first_min_tokens is
        # a few hundred); 5000 afford the attempts phase, whose program finds 7.
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
        "What is 2+2?",
        "adaptive",
        model=model(),
        budget={"calls": calls},
        db=db,
        run_id="a",
        escalate=True,
    )
    assert paused.status == "paused" and paused.usage.calls == calls  # nested calls counted
    done = await runs.aresume("a", db=db, add_calls=20, model=model())
    assert done.status == "done" and calls < done.usage.calls <= calls + 20
    [record] = await runs.alist_runs(db=db)
    assert record["calls"] == done.usage.calls


def split_model(answers: list[str], printed: str) -> ScriptedChatModel:
    """Probe and sample ``i`` answer ``answers[i % len]``; every program prints ``printed``."""

    def reply(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        if "Python program" in messages[0].text:
            return f"```python\nprint({printed})\n```"
        seed = kwargs.get("seed", 0)
        return f"The answer is {answers[seed % len(answers)]}."

    return ScriptedChatModel(reply_fn=reply)


async def test_a_split_bin_draws_its_samples_then_programs_that_move_the_anchor() -> None:
    # The greedy probe says 8, the others 7: bin 1/3 gets 6 answers and 2 programs; the
    # programs print 7, which samples also gave, so anchored leaves the greedy answer.
    result = await ponder.asolve(
        "3 + 4 =", "adaptive", model=split_model(["8", "7", "7"], "7"),
        allocation=GREEDY_WHEN_AGREED,
    )  # fmt: skip
    kinds = [c["kind"] for c in result.candidates]
    assert kinds == ["probe"] * 3 + ["attempt"] * 3 + ["program"] * 2
    assert result.candidates[0]["temperature"] == 0.0 and result.candidates[0]["answer"] == "8"
    assert result.plan is not None and result.plan["action"]["samples"] == 6
    assert result.plan["phases"] == [] and result.answer == "7"
    assert result.usage.calls == 8


async def test_programs_are_not_drawn_when_the_answers_agree() -> None:
    policy = AllocationPolicy(bins={"*": Action(samples=4, programs=3, select="anchored")})
    result = await ponder.asolve(
        "3 + 4 =", "adaptive", model=split_model(["7"], "9"), allocation=policy
    )
    assert [c["kind"] for c in result.candidates] == ["probe"] * 3 + ["attempt"]
    assert result.answer == "7" and result.usage.calls == 4


async def test_the_action_names_the_select_rule() -> None:
    # Greedy says 8, the other five 7: majority picks 7, anchored (no programs) keeps 8.
    answers = ["8", "7", "7", "7", "7", "7"]
    for rule, expected in (("majority", "7"), ("anchored", "8")):
        policy = AllocationPolicy(bins={"*": Action(samples=6, select=rule)})
        result = await ponder.asolve(
            "3 + 4 =", "adaptive", model=split_model(answers, "0"), allocation=policy
        )
        assert result.answer == expected, rule


async def test_a_policy_file_is_read_and_a_bad_one_refused(tmp_path: Any) -> None:
    path = tmp_path / "policy.json"
    GREEDY_WHEN_AGREED.dump(path)
    assert AllocationPolicy.load(path) == GREEDY_WHEN_AGREED
    config = AdaptiveConfig(allocation=str(path))
    assert config.allocation == GREEDY_WHEN_AGREED
    for text in ("not json", '{"bins": {"*": {"samples": 0}}}', '{"bins": {"*": {"x": 1}}}'):
        path.write_text(text)
        with pytest.raises(ConfigurationError, match="cannot read the allocation policy"):
            AdaptiveConfig(allocation=str(path))
    with pytest.raises(ConfigurationError, match="allocation must be"):
        AdaptiveConfig(allocation=3)  # type: ignore[arg-type]
    assert AllocationPolicy.load().bins  # the policy ponder ships reads
