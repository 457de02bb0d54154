from __future__ import annotations

from typing import Any

import pytest

import ponder
from ponder.errors import ConfigurationError
from ponder.testing import ScriptedChatModel


def answers(*values: str) -> ScriptedChatModel:
    return ScriptedChatModel(replies=[f"Work. The answer is {v}." for v in values])


async def test_stops_at_the_first_verified_candidate() -> None:
    model = answers("3", "5", "9", "9")
    result = await ponder.asolve(
        "q", "best-of-n", model=model, verifier=ponder.ExpectedAnswer("9"), n=8
    )
    assert result.answer == "9"
    assert result.stop_reason == "verified"
    assert [c["verdict"] for c in result.candidates] == ["rejected", "rejected", "accepted"]
    assert result.scores == {"c0": 0.0, "c1": 0.0, "c2": 1.0}


async def test_verifier_beats_the_majority() -> None:
    model = answers("3", "3", "3", "9")
    result = await ponder.asolve(
        "q", "best-of-n", model=model, verifier=ponder.ExpectedAnswer("9"), n=4
    )
    assert result.answer == "9"
    assert result.votes == {"3": 3, "9": 1}


async def test_best_score_wins_when_none_is_accepted() -> None:
    model = answers("10", "12", "11")

    def closeness(problem: str, candidate: Any) -> float:
        return 1.0 / (1.0 + abs(int(candidate["answer"]) - 12)) * 0.9

    result = await ponder.asolve("q", "best-of-n", model=model, verifier=closeness, n=3)
    assert result.stop_reason == "exhausted"
    assert result.answer == "12"


async def test_a_raising_verifier_marks_candidates_unverified() -> None:
    model = answers("1", "2")

    def broken(problem: str, candidate: Any) -> float:
        raise ValueError("checker crashed")

    result = await ponder.asolve("q", "best-of-n", model=model, verifier=broken, n=2)
    assert [c["verdict"] for c in result.candidates] == ["unverified", "unverified"]
    assert all("checker crashed" in (c["reason"] or "") for c in result.candidates)
    assert result.status == "done"
    assert result.answer == "1"  # no scores: majority of what was gathered
    assert {e["kind"] for e in result.errors} == {"VerifierError"}


async def test_candidates_without_answers_are_unverified() -> None:
    model = ScriptedChatModel(replies=["hmm", "The answer is 2."])
    result = await ponder.asolve(
        "q", "best-of-n", model=model, verifier=ponder.ExpectedAnswer("2"), n=4
    )
    assert result.candidates[0]["verdict"] == "unverified"
    assert result.answer == "2"


async def test_best_of_n_needs_a_verifier() -> None:
    with pytest.raises(ConfigurationError, match="needs a verifier"):
        await ponder.asolve("q", "best-of-n", model=answers("1"))
