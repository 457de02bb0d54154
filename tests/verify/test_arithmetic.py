from __future__ import annotations

import pytest

import ponder
from ponder.testing import ScriptedChatModel
from ponder.verify import (
    ArithmeticConsistency,
    extract_number,
    extract_repaired_number,
    find_equations,
    repair_arithmetic,
)


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


@pytest.mark.parametrize(
    ("text", "repaired", "answer"),
    [
        ("17 + 25 = 32. The answer is 32.", "17 + 25 = 42. The answer is 42.", "42"),
        # The correction is carried into the equations built on it, then re-checked.
        ("3 x 4 = 13, 13 - 5 = 8. The answer is 8.", "3 x 4 = 12, 12 - 5 = 7. The answer is 7.",
         "7"),
        # Only the whole number is replaced: 320 and 3.2 are other numbers.
        ("2 + 2 = 5. 5 apples, 50 pears, 0.5 kg. The answer is 5.",
         "2 + 2 = 4. 4 apples, 50 pears, 0.5 kg. The answer is 4.", "4"),
        ("6 / 0 = 3. The answer is 3.", "6 / 0 = 3. The answer is 3.", "3"),  # left alone
        ("No arithmetic here. The answer is 9.", "No arithmetic here. The answer is 9.", "9"),
        ("10 - 12 = 2. The answer is 2.", "10 - 12 = -2. The answer is -2.", "-2"),
    ],
)  # fmt: skip
def test_a_wrong_result_is_recomputed_and_carried_to_the_answer(
    text: str, repaired: str, answer: str
) -> None:
    fixed = repair_arithmetic(text)
    assert fixed.text == repaired
    assert bool(fixed.fixes) == (text != repaired)
    assert extract_repaired_number(text) == answer


def test_repair_ends_on_text_that_keeps_contradicting_itself() -> None:
    text = " ".join(f"{i} + 1 = {i}." for i in range(1, 40))
    fixed = repair_arithmetic(text)
    assert 0 < len(fixed.fixes) <= 16  # a bounded number of passes, never a loop


def test_the_repaired_number_is_ponders_default_answer() -> None:
    from ponder.context import RunContext
    from ponder.testing import ScriptedChatModel
    from ponder.verify.record import extractor_from_record, extractor_record

    assert RunContext(model=ScriptedChatModel(replies=["1"])).extractor is extract_repaired_number
    assert extractor_record(extract_repaired_number) is None  # the default: not recorded
    assert extractor_record(extract_number) == {"name": "extract_number"}
    assert extractor_from_record(None, "r") is extract_repaired_number
    slip = ScriptedChatModel(replies=["4 x 8 = 36. The answer is 36."])
    assert ponder.solve("What is 4 x 8?", model=slip, max_samples=1).answer == "32"
    plain = ponder.solve("What is 4 x 8?", model=slip, max_samples=1, extractor=extract_number)
    assert plain.answer == "36"
