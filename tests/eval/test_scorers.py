from __future__ import annotations

import pytest

from ponder.eval import SCORERS, Problem, load_dataset, score, scorers
from ponder.eval.scorers import extract_choice, extract_math, extract_yes_no, oracle_verifier


def problem(scorer: str, answer: str, **extra: object) -> Problem:
    return Problem(id="p", question="q", answer=answer, scorer=scorer, **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("answer", "expected", "right"),
    [
        ("42", "42", True),
        ("42.0", "42", True),
        ("1,000", "1000", True),
        ("0.5", "1/2", True),
        ("-3", "3", False),
        ("41", "42", False),
        ("forty-two", "42", False),
        ("", "42", False),
        (None, "42", False),
    ],
)
async def test_number(answer: str | None, expected: str, right: bool) -> None:
    assert await score(problem("number", expected), answer) is right


@pytest.mark.parametrize(
    ("answer", "expected", "right"),
    [
        (r"\frac{1}{2}", "0.5", True),
        ("1/2", r"\frac12", True),
        (r"\left( 3, \frac{\pi}{2} \right)", r"\left( 3, \frac{\pi}{2} \right)", True),
        (r"(3, \pi/2)", r"\left( 3, \frac{\pi}{2} \right)", True),
        ("x^2 - 1", "(x-1)(x+1)", True),
        ("7", "8", False),
        (r"\sqrt{2}", "2", False),
    ],
)
async def test_math(answer: str, expected: str, right: bool) -> None:
    assert await score(problem("math", expected), answer) is right


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("The answer is (B).", "B"),
        ("Answer: C", "C"),
        ("I think D) is right", "D"),
        ("A bank is where money is kept, so the answer is A.", "A"),
        ("A revolving door is at a bank.", None),
        ("(A) or (E)? I pick (E)", "E"),
        ("the answer is a bank", None),
        ("no letter here", None),
    ],
)
def test_extract_choice(text: str, letter: str | None) -> None:
    assert extract_choice(text) == letter


async def test_choice_scoring() -> None:
    assert await score(problem("choice", "B"), "B")
    assert await score(problem("choice", "B"), "(B)")
    assert not await score(problem("choice", "B"), "C")
    assert not await score(problem("choice", "B"), "banana")


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("Yes.", "yes"),
        ("No, it is not heads up.", "no"),
        ("At first yes, but after two flips: no", "no"),
        ("Nobody knows", None),
        ("YES", "yes"),
    ],
)
def test_extract_yes_no(text: str, answer: str | None) -> None:
    assert extract_yes_no(text) == answer


async def test_yes_no_and_string() -> None:
    assert await score(problem("yes_no", "no"), "no")
    assert not await score(problem("yes_no", "no"), "yes")
    assert not await score(problem("yes_no", "no"), "maybe")
    assert await score(problem("string", "yajo"), "Yajo.")
    assert await score(problem("string", "new york"), "  New   York ")
    assert not await score(problem("string", "yajo"), "yaj")


def test_extract_math() -> None:
    assert extract_math(r"so \boxed{\frac{a}{\sqrt{b}}} done") == r"\frac{a}{\sqrt{b}}"
    assert extract_math(r"\boxed{1} then \boxed{2}") == "2"
    assert extract_math("The answer is $x+1$.") == "x+1"
    assert extract_math("we get 12 apples") == "12"
    assert extract_math(r"\boxed{unclosed") is None or extract_math(r"\boxed{unclosed") != ""
    assert extract_math("nothing") is None


async def test_code_against_tests() -> None:
    human = load_dataset("humaneval", limit=1).problems[0]
    body = human.answer[len(human.prelude) :]
    assert await score(human, human.prelude + body)
    assert not await score(human, human.prelude + "    return False\n")
    mbpp = load_dataset("mbpp", limit=1).problems[0]
    assert await score(mbpp, mbpp.answer)
    assert not await score(mbpp, "def remove_Occ(s, ch):\n    return s\n")


async def test_code_scorer_with_a_tight_limit_stops_a_loop() -> None:
    looping = problem("code", "", tests="assert f() == 1")
    verifier = scorers.tests_verifier(looping, seconds=1.0)
    verdict = await verifier("q", {"answer": "def f():\n    while True: pass\n"})
    assert verdict.score == 0.0


def test_tests_verifier_needs_tests() -> None:
    with pytest.raises(ValueError, match="no tests"):
        scorers.tests_verifier(problem("number", "1"))


async def test_oracle_verifier_checks_the_label() -> None:
    verifier = oracle_verifier(problem("number", "42"))
    assert (await verifier("q", {"answer": "42.0"})).score == 1.0
    assert (await verifier("q", {"answer": "41"})).score == 0.0
    assert (await verifier("q", {"answer": None})).score == 0.0


def test_every_scorer_has_an_extractor() -> None:
    assert set(SCORERS) == {"number", "math", "choice", "yes_no", "string", "code"}
    assert SCORERS["number"].extract("so 3 + 4 = 7") == "7"
    assert SCORERS["code"].extract("```python\nx = 1\n```") == "x = 1"
