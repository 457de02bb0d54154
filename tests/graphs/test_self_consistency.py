from __future__ import annotations

from typing import Any

import pytest

import ponder
from ponder.errors import ConfigurationError
from ponder.graphs import SelfConsistencyConfig, build_self_consistency
from ponder.testing import ScriptedChatModel

MAJORITY: dict[str, Any] = {"select": "majority", "programs": 0}
"""The textbook vote (no programs, no greedy anchor), for the tests of the vote's logic."""


def answers(*values: str) -> ScriptedChatModel:
    return ScriptedChatModel(replies=[f"Some work. The answer is {v}." for v in values])


async def test_converges_when_agreement_is_reached() -> None:
    model = answers("7", "7", "7", "3")
    result = await ponder.asolve("q", model=model, max_samples=8, min_samples=3, agreement=0.75)
    assert result.answer == "7"
    assert result.stop_reason == "converged"
    assert len(result.candidates) == 3
    assert result.votes == {"7": 3}


async def test_stops_when_the_leader_cannot_be_overtaken() -> None:
    model = answers("7", "3", "7", "7", "9")
    result = await ponder.asolve("q", model=model, max_samples=5, agreement=1.0, **MAJORITY)
    # After 4 samples: 7 x3, 3 x1, one left: 3 - 1 > 1.
    assert result.stop_reason == "decided"
    assert len(result.candidates) == 4
    assert result.answer == "7"


async def test_exhausts_max_samples_on_an_open_vote() -> None:
    model = answers("1", "2", "3", "4")
    result = await ponder.asolve("q", model=model, max_samples=4, agreement=1.0, **MAJORITY)
    assert result.stop_reason == "exhausted"
    assert len(result.candidates) == 4
    assert result.answer == "1"  # tie: the answer given first
    assert result.votes == {"1": 1, "2": 1, "3": 1, "4": 1}


async def test_budget_ends_sampling_before_the_limit() -> None:
    model = answers("1", "2", "3", "4", "5", "6")
    budget = ponder.Budget(tokens=700)
    result = await ponder.asolve(
        "q", model=model, budget=budget, max_samples=6, agreement=1.0, max_tokens=40
    )
    assert result.stop_reason == "budget"
    assert 0 < len(result.candidates) < 6
    assert result.usage.tokens <= 700


async def test_calls_budget_is_exact() -> None:
    model = answers("1", "2", "3", "4", "5")
    result = await ponder.asolve(
        "q", model=model, budget=ponder.Budget(calls=2), max_samples=5, agreement=1.0
    )
    assert result.usage.calls == 2
    assert result.stop_reason == "budget"


async def test_candidates_without_answers_do_not_vote() -> None:
    model = ScriptedChatModel(replies=["I do not know.", "The answer is 5.", "Hmm."])
    result = await ponder.asolve("q", model=model, max_samples=3, agreement=1.0, **MAJORITY)
    assert [c["answer"] for c in result.candidates] == [None, "5", None]
    assert result.answer == "5"
    assert result.votes == {"5": 1}


async def test_no_answer_at_all_is_a_result_not_an_error() -> None:
    model = ScriptedChatModel(replies=["no idea"])
    result = await ponder.asolve("q", model=model, max_samples=2)
    assert result.answer is None
    assert result.status == "done"


async def test_model_failure_mid_run_keeps_the_candidates() -> None:
    model = ScriptedChatModel(
        replies=["The answer is 4.", "The answer is 4.", RuntimeError("server went away")]
    )
    result = await ponder.asolve("q", model=model, max_samples=5, agreement=1.0)
    assert result.status == "failed"
    assert result.stop_reason == "error"
    assert [c["answer"] for c in result.candidates] == ["4", "4"]
    assert result.answer == "4"
    assert result.error is not None and "server went away" in result.error
    assert result.usage.calls == 3  # the failed call is in the ledger too


async def test_a_hanging_model_is_cut_off() -> None:
    model = ScriptedChatModel(replies=["The answer is 4."], delay=5.0)
    result = await ponder.asolve("q", model=model, call_timeout=0.05, max_samples=3)
    assert result.status == "failed"
    assert result.errors[0]["kind"] == "ModelTimeout"


async def test_seconds_budget_cuts_a_slow_call() -> None:
    model = ScriptedChatModel(replies=["The answer is 4."], delay=5.0)
    result = await ponder.asolve("q", model=model, budget=ponder.Budget(seconds=0.2), max_samples=3)
    assert result.wall_seconds < 2.0
    assert result.stop_reason == "budget"  # the budget cut the call: not a model failure
    assert result.errors[0]["kind"] == "BudgetExceeded"


async def test_samples_use_the_config_and_distinct_seeds() -> None:
    model = answers("1", "2", "3")
    await ponder.asolve(
        "q",
        model=model,
        seed=10,
        max_samples=3,
        agreement=1.0,
        temperature=0.9,
        max_tokens=50,
        **MAJORITY,
    )
    assert [call["temperature"] for call in model.calls] == [0.9, 0.9, 0.9]
    assert all(call["max_tokens"] == 50 for call in model.calls)


def test_config_validation() -> None:
    with pytest.raises(ConfigurationError):
        SelfConsistencyConfig(max_samples=0)
    with pytest.raises(ConfigurationError):
        SelfConsistencyConfig(agreement=1.5)
    with pytest.raises(ConfigurationError):
        SelfConsistencyConfig(temperature=float("nan"))


async def test_graph_runs_directly_with_a_context() -> None:
    from ponder.context import RunContext

    graph = build_self_consistency(SelfConsistencyConfig(max_samples=2, agreement=1.0))
    context = RunContext(model=answers("8", "8"))
    state: dict[str, Any] = await graph.ainvoke(
        {"problem": "q", "budget": ponder.Budget(tokens=1000).to_limits()}, context=context
    )
    assert state["answer"] == "8"
    assert set(state) >= {"answer", "candidates", "votes", "ledger", "status", "stop_reason"}


async def test_a_confidence_vote_follows_the_confident_minority() -> None:
    # Two unsure samples say 8, one confident sample says 7 (scripted log-probabilities).
    replies = ["The answer is 8.", "The answer is 7.", "The answer is 8."]
    model = ScriptedChatModel(
        replies=replies, logprob_fn=lambda text: -0.05 if "7" in text else -2.0
    )
    options: dict[str, Any] = {"max_samples": 3, "min_samples": 3, "agreement": 1.0}
    majority = await ponder.asolve("q", model=model, **options)
    assert majority.answer == "8"
    for select in ("confidence", "filtered", "borda"):
        model = ScriptedChatModel(
            replies=replies, logprob_fn=lambda text: -0.05 if "7" in text else -2.0
        )
        voted = await ponder.asolve(
            "q", model=model, select=select, confidence_keep=0.34, **options
        )
        assert voted.answer == ("8" if select == "borda" else "7"), select
        assert all(c["confidence"] is not None for c in voted.candidates)


async def test_a_confidence_vote_without_confidence_is_a_majority() -> None:
    model = ScriptedChatModel(replies=["The answer is 8.", "The answer is 7.", "The answer is 8."])
    result = await ponder.asolve(
        "q", model=model, select="confidence", max_samples=3, min_samples=3, agreement=1.0
    )
    assert result.answer == "8" and result.votes == {"8": 2, "7": 1}
    with pytest.raises(ponder.ConfigurationError, match="select must be one of"):
        await ponder.asolve("q", model=model, select="loudest")


async def test_greedy_first_draws_the_first_sample_at_temperature_zero() -> None:
    model = ScriptedChatModel(replies=["The answer is 1.", "The answer is 2.", "The answer is 3."])
    result = await ponder.asolve("q", model=model, greedy_first=True, max_samples=3,
                                 agreement=1.0, **MAJORITY)  # fmt: skip
    assert [c["temperature"] for c in result.candidates] == [0.0, 0.7, 0.7]
    assert [call["temperature"] for call in model.calls] == [0.0, 0.7, 0.7]


async def test_the_posterior_stopping_rule_stops_when_the_leader_is_safe() -> None:
    model = ScriptedChatModel(replies=["The answer is 4."])
    result = await ponder.asolve("q", model=model, stopping="posterior", posterior=0.9,
                                 min_samples=1, max_samples=8)  # fmt: skip
    # P(leader stays ahead) after k unanimous votes is 1 - 2^-(k+1): 0.75, 0.875, 0.9375.
    assert (len(result.candidates), result.stop_reason) == (3, "converged")
    strict = await ponder.asolve("q", model=model, stopping="posterior", posterior=0.99,
                                 min_samples=1, max_samples=5)  # fmt: skip
    assert strict.stop_reason == "decided"  # 5 samples cannot reach 0.99 before it is decided


async def test_early_stop_ends_samples_below_the_warm_up_floor_and_they_do_not_vote() -> None:
    filler = " ".join(["step"] * 20)
    texts = [f"{filler} The answer is {v}." for v in ("8", "9", "8", "7", "8", "7")]
    # Scripted confidence: 2.0 for the warm-up and the later 8, 0.5 for the unsure 7s.
    model = ScriptedChatModel(
        replies=texts, logprob_fn=lambda text: -0.5 if text.endswith("7.") else -2.0
    )
    result = await ponder.asolve(
        "q",
        model=model,
        max_samples=6,
        min_samples=3,
        agreement=1.0,
        early_stop=0.9,
        **MAJORITY,
    )
    floors = [call.get("min_confidence") for call in model.calls]
    assert floors[:3] == [None, None, None]  # the warm-up: no floor yet
    # c3 (a 7) is stopped; after c4 (an 8) the leader cannot be overtaken by one more.
    assert floors[3:] == [pytest.approx(2.0)] * 2 and result.stop_reason == "decided"
    stopped = [c for c in result.candidates if c["finish_reason"] == "low_confidence"]
    assert [c["id"] for c in stopped] == ["c3"]
    assert all(c["answer"] is None and c["tokens_out"] == 16 for c in stopped)
    assert result.votes == {"8": 3, "9": 1}
    assert result.usage.tokens == sum(c["tokens_in"] + c["tokens_out"] for c in result.candidates)
    with pytest.raises(ConfigurationError, match="early_stop"):
        SelfConsistencyConfig(early_stop=0.0)


@pytest.mark.parametrize("budget", [{"tokens": 1000}, ponder.Budget(tokens=1000)])
async def test_the_graph_takes_a_partial_budget_dict_or_a_budget(budget: Any) -> None:
    # Before: a plain dict failed deep inside with KeyError: 'price_in'.
    from ponder.context import RunContext

    graph = build_self_consistency(SelfConsistencyConfig(max_samples=2, agreement=1.0))
    state: dict[str, Any] = await graph.ainvoke(
        {"problem": "q", "budget": budget}, context=RunContext(model=answers("8", "8"))
    )
    assert state["answer"] == "8"
    with pytest.raises(ConfigurationError, match="unknown budget key"):
        typo: Any = {"tokenz": 5}
        await graph.ainvoke(
            {"problem": "q", "budget": typo}, context=RunContext(model=answers("8"))
        )


def _anchored_model(program_prints: str, samples_say: list[str]) -> Any:
    said = iter(samples_say)

    def reply(messages: list[Any], kwargs: dict[str, Any]) -> str:
        if "Python program" in messages[0].text:
            return f"```python\nprint({program_prints})\n```"
        if kwargs.get("temperature") == 0.0:
            return "The answer is 8."
        return f"The answer is {next(said)}."

    return ScriptedChatModel(reply_fn=reply)


@pytest.mark.parametrize(
    ("samples_say", "expected"),
    [(["9", "8", "8"], "9"), (["7", "8", "8"], "8")],
)
def test_anchored_keeps_greedy_unless_programs_and_samples_agree_on_another(
    samples_say: list[str], expected: str
) -> None:
    result = ponder.solve(
        "What is 4 + 5?", model=_anchored_model("4 + 5", samples_say), budget={"tokens": 4000},
        select="anchored", programs=2, max_samples=4, min_samples=4, agreement=1.0,
    )  # fmt: skip
    kinds = [c["kind"] for c in result.candidates]
    # The first samples come first (greedy among them), then the programs, once.
    # (three at first: after three, a unanimous vote of four would be decided).
    assert kinds == ["attempt", "attempt", "attempt", "program", "program", "attempt"]
    programs = [c for c in result.candidates if c["kind"] == "program"]
    attempts = [c for c in result.candidates if c["kind"] == "attempt"]
    assert [c["temperature"] for c in programs][0] == 0.0  # the first program greedy
    assert attempts[0]["temperature"] == 0.0 and attempts[0]["answer"] == "8"
    assert result.answer == expected
    assert sum(result.votes.values()) == 6  # every candidate is tallied; only the rule differs


def test_programs_is_a_count() -> None:
    with pytest.raises(ConfigurationError, match="whole number >= 0"):
        ponder.solve("q", model=_anchored_model("1", []), programs=-1)


def test_no_program_is_drawn_once_the_first_samples_agree_with_greedy() -> None:
    """No program could move the answer then: anchored needs a sample that said another."""
    result = ponder.solve(
        "What is 4 + 5?", model=_anchored_model("4 + 5", ["8", "8"]), budget={"tokens": 4000}
    )
    assert [c["kind"] for c in result.candidates] == ["attempt"] * 3
    assert (result.answer, result.stop_reason) == ("8", "converged")


def test_the_default_vote_draws_the_greedy_answer_first_under_a_tight_budget() -> None:
    # Before: the programs came first, and a budget of two calls bought no greedy answer.
    result = ponder.solve(
        "What is 4 + 5?", model=_anchored_model("4 + 5", ["9", "7"]), budget={"calls": 2}
    )
    assert [(c["kind"], c["temperature"]) for c in result.candidates] == [
        ("attempt", 0.0), ("attempt", 0.7)
    ]  # fmt: skip
    assert result.answer == "8" and result.stop_reason == "budget"


def test_ranked_draws_greedy_first_and_the_programs_and_answers_with_the_ranker() -> None:
    # The samples split 8 (greedy) against 9; the programs print 9: the shipped ranker
    # weighs the programs' agreement above greedy's vote.
    result = ponder.solve(
        "What is 4 + 5?", model=_anchored_model("4 + 5", ["9", "9", "8"]),
        budget={"tokens": 4000}, select="ranked", programs=2, max_samples=4, min_samples=4,
        agreement=1.0,
    )  # fmt: skip
    attempts = [c for c in result.candidates if c["kind"] == "attempt"]
    assert attempts[0]["temperature"] == 0.0
    assert sum(c["kind"] == "program" for c in result.candidates) == 2
    assert result.answer == "9"
    assert set(result.votes) == {"8", "9"} and result.votes["9"] > result.votes["8"]


def test_ranked_keeps_greedy_when_nothing_else_backs_another_answer() -> None:
    result = ponder.solve(
        "What is 4 + 5?", model=_anchored_model("8", ["9", "8", "8"]), budget={"tokens": 4000},
        select="ranked", programs=2, max_samples=4, min_samples=4, agreement=1.0,
    )  # fmt: skip
    assert result.answer == "8"
