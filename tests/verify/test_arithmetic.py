from __future__ import annotations

import pytest

import ponder
from ponder.testing import ScriptedChatModel
from ponder.verify import ArithmeticConsistency, find_equations


@pytest.mark.parametrize(
    ("text", "right"),
    [
        ("She had 15 - 6 = 9 pencils left.", [True]),
        ("17 + 25 = 32, so the answer is 32.", [False]),
        ("2 + 3 * 4 = 14 and (no brackets) 2 + 3 * 4 = 20", [True, False]),
        ("$5 x 3 = $15; 10 / 4 = 2.5; 1,200 + 300 = 1,500; -3 + 5 = 2", [True] * 4),
        ("6 ÷ 0 = 1", [False]),
        ("x + 3 = 5, and 7 = 7", []),
    ],
)
def test_equations_are_found_and_recomputed(text: str, right: list[bool]) -> None:
    assert [equation.right for equation in find_equations(text)] == right


def test_the_verdict_needs_no_answer_key() -> None:
    check = ArithmeticConsistency()
    assert check("q", {"text": "3 x 4 = 12, 12 - 5 = 7. The answer is 7."}).score == 1.0
    wrong = check("q", {"text": "17 + 25 = 32. The answer is 32."})
    assert (wrong.score, wrong.reason) == (0.0, "17 + 25 = 32 is wrong: 42")
    assert check("q", {"text": "The answer is 7."}).score == 0.5


async def test_best_of_n_with_the_arithmetic_check_skips_a_slip() -> None:
    model = ScriptedChatModel(replies=["17 + 25 = 32. The answer is 32.",
                                       "17 + 25 = 42. The answer is 42."])  # fmt: skip
    result = await ponder.asolve("What is 17 + 25?", "best-of-n", model=model, n=4,
                                 verifier=ArithmeticConsistency())  # fmt: skip
    assert result.answer == "42" and result.stop_reason == "verified"
    assert [c["verdict"] for c in result.candidates] == ["rejected", "accepted"]
