from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from ponder.errors import VerifierError
from ponder.verify.verifier import ExpectedAnswer, Verdict, answers_match, run_verifier


@pytest.mark.parametrize(
    ("answer", "expected", "kind", "match"),
    [
        ("42", "42", "number", True),
        ("42.0", "42", "number", True),
        ("1,000", "1000", "number", True),
        ("0.5", "1/2", "number", True),
        ("41", "42", "number", False),
        ("forty", "40", "number", False),
        (None, "40", "number", False),
        ("Paris.", "paris", "string", True),
        ("  New   York ", "new york", "string", True),
        ("London", "Paris", "string", False),
    ],
)
def test_answers_match(answer: str | None, expected: str, kind: Any, match: bool) -> None:
    assert answers_match(answer, expected, kind) is match


def test_expected_answer_scores() -> None:
    verifier = ExpectedAnswer("9")
    assert verifier("q", {"answer": "9"}).score == 1.0
    assert verifier("q", {"answer": "8"}).score == 0.0
    assert verifier("q", {"answer": None}).reason == "no answer to check"


async def test_run_verifier_accepts_every_score_form() -> None:
    candidate = {"answer": "1"}
    assert (await run_verifier(lambda p, c: True, "q", candidate, timeout=5)).score == 1.0
    assert (await run_verifier(lambda p, c: 0.25, "q", candidate, timeout=5)).score == 0.25
    pair = await run_verifier(lambda p, c: (0.5, "half"), "q", candidate, timeout=5)
    assert pair == Verdict(score=0.5, reason="half")

    async def judged(problem: str, candidate: Any) -> Verdict:
        return Verdict(score=1.0, reason="async")

    assert (await run_verifier(judged, "q", candidate, timeout=5)).reason == "async"


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan"), "yes", None])
async def test_run_verifier_refuses_garbage(bad: object) -> None:
    with pytest.raises(VerifierError):
        await run_verifier(lambda p, c: bad, "q", {}, timeout=5)  # type: ignore[arg-type]


async def test_run_verifier_wraps_raises_and_hangs() -> None:
    def boom(problem: str, candidate: Any) -> float:
        raise KeyError("missing")

    with pytest.raises(VerifierError, match="KeyError"):
        await run_verifier(boom, "q", {}, timeout=5)

    def slow(problem: str, candidate: Any) -> float:
        time.sleep(0.5)
        return 1.0

    with pytest.raises(VerifierError, match="did not answer"):
        await run_verifier(slow, "q", {}, timeout=0.05)

    async def hangs(problem: str, candidate: Any) -> float:
        await asyncio.sleep(10)
        return 1.0

    with pytest.raises(VerifierError, match="did not answer"):
        await run_verifier(hangs, "q", {}, timeout=0.05)
