r"""Scorers: whether a run's answer to a benchmark problem is right.

A `Scorer` pairs an extractor (from the model's text to an answer, handed to the strategy so
that votes count like answers) with a check of an answer against the problem's reference. The
check may be sync or async; `score` runs either. One scorer per `ScorerName`:

| name | extracts | right when |
|---|---|---|
| ``number`` | the final number | same numeric value |
| ``math`` | the last ``\boxed{...}``, else the number | ``math-verify`` finds them equivalent |
| ``choice`` | the choice letter | same letter |
| ``yes_no`` | the last yes or no | same |
| ``string`` | the short answer | same, ignoring case, spaces, end punctuation |
| ``code`` | the code block | the problem's tests pass in the sandbox |

Example:
    >>> import asyncio
    >>> from ponder.eval.datasets import Problem
    >>> problem = Problem(id="1", question="Is 7 prime?", answer="yes", scorer="yes_no")
    >>> answer = SCORERS["yes_no"].extract("7 has no divisors but 1 and 7, so yes.")
    >>> answer, asyncio.run(score(problem, answer))
    ('yes', True)
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ponder.eval.datasets import Problem, ScorerName
from ponder.verify.arithmetic import extract_repaired_number
from ponder.verify.code import CodeTests, extract_code
from ponder.verify.extract import Extractor, extract_number, extract_short_answer, normalize_text
from ponder.verify.math import math_equal
from ponder.verify.sandbox import SandboxLimits
from ponder.verify.verifier import Verdict, answers_match

__all__ = (
    "SCORERS",
    "Check",
    "Scorer",
    "extract_choice",
    "extract_math",
    "extract_yes_no",
    "oracle_verifier",
    "score",
    "tests_verifier",
)

Check = Callable[[Problem, str], "bool | Awaitable[bool]"]
"""Whether an answer (never ``None``: a missing answer is wrong) is right for a problem."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Scorer:
    """How answers of one kind are extracted and checked."""

    name: ScorerName
    """The scorer's name."""
    extract: Extractor
    """Turns a candidate's text into an answer (given to the strategy as its extractor)."""
    check: Check
    """Whether an extracted answer is right."""


_CHOICE = (
    re.compile(r"answer\s*(?:is|:)?\s*[:=]?\s*\(?\**(?-i:([A-H]))(?![\w'])", re.IGNORECASE),
    re.compile(r"\(([A-H])\)"),
    re.compile(r"(?<![\w'])([A-H])[).:](?:\s|$)"),
    # A lone capital, but not the article "A" before a word.
    re.compile(r"(?<![\w'])([A-H])(?![\w'])(?!\s+[a-z])"),
)


def extract_choice(text: str) -> str | None:
    """Return the choice letter a reply gives (``"The answer is (B)."`` -> ``"B"``), or None.

    An ``answer is X`` marker wins, then a parenthesized letter, then a letter followed by
    ``)`` or ``.``, then a lone capital letter; the last match of the first kind found.
    """
    for pattern in _CHOICE:
        found = pattern.findall(text)
        if found:
            return str(found[-1]).upper()
    return None


_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


def extract_yes_no(text: str) -> str | None:
    """Return ``yes`` or ``no``: the last of those words in the reply, or None."""
    found = _YES_NO.findall(text)
    return found[-1].lower() if found else None


def _last_boxed(text: str) -> str | None:
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, begin = 0, start + len("\\boxed{")
    for position in range(begin, len(text)):
        char = text[position]
        if char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return text[begin:position].strip() or None
            depth -= 1
    return None


_MATH_MARKER = re.compile(r"answer\s*(?:is|:)\s*\$?([^$\n]+?)\$?\s*\.?\s*$", re.IGNORECASE)


def extract_math(text: str) -> str | None:
    r"""Return a math answer: the last ``\boxed{...}``, else after ``answer is``, else a number.

    Example:
        >>> extract_math(r"So $x = \boxed{\frac{1}{2}}$.")
        '\\frac{1}{2}'
    """
    boxed = _last_boxed(text)
    if boxed is not None:
        return boxed
    for line in reversed(text.strip().splitlines()):
        found = _MATH_MARKER.search(line)
        if found:
            return found.group(1).strip()
    return extract_number(text)


def _number(problem: Problem, answer: str) -> bool:
    return answers_match(answer, problem.answer, "number")


def _math(problem: Problem, answer: str) -> bool:
    return answers_match(answer, problem.answer, "number") or math_equal(answer, problem.answer)


def _choice(problem: Problem, answer: str) -> bool:
    letter = extract_choice(answer)
    return letter is not None and letter == problem.answer.strip().upper()


def _yes_no(problem: Problem, answer: str) -> bool:
    return extract_yes_no(answer) == normalize_text(problem.answer)


def _string(problem: Problem, answer: str) -> bool:
    return normalize_text(answer) == normalize_text(problem.answer)


async def _code(problem: Problem, answer: str) -> bool:
    verdict = await tests_verifier(problem)(problem.question, {"answer": answer, "text": answer})
    return verdict.score >= 1.0


SCORERS: dict[ScorerName, Scorer] = {
    "number": Scorer(name="number", extract=extract_repaired_number, check=_number),
    "math": Scorer(name="math", extract=extract_math, check=_math),
    "choice": Scorer(name="choice", extract=extract_choice, check=_choice),
    "yes_no": Scorer(name="yes_no", extract=extract_yes_no, check=_yes_no),
    "string": Scorer(name="string", extract=extract_short_answer, check=_string),
    "code": Scorer(name="code", extract=extract_code, check=_code),
}
"""Every scorer, by name."""


async def score(problem: Problem, answer: str | None) -> bool:
    """Return whether ``answer`` is right for ``problem``, under the problem's scorer.

    A missing answer is wrong. Whatever the check raises propagates: the bench records it
    for that problem and goes on.
    """
    if answer is None or not str(answer).strip():
        return False
    outcome = SCORERS[problem.scorer].check(problem, answer)
    if inspect.isawaitable(outcome):
        outcome = await outcome
    return bool(outcome)


def tests_verifier(problem: Problem, *, seconds: float = 10.0) -> CodeTests:
    """Return the verifier that runs a code problem's own tests on a candidate.

    Args:
        problem: A code problem.
        seconds: Wall seconds the candidate and its tests may take.

    Raises:
        ValueError: The problem has no tests.
    """
    if problem.tests is None:
        raise ValueError(f"problem {problem.id} has no tests")
    return CodeTests(problem.tests, prelude=problem.prelude, limits=SandboxLimits(seconds=seconds))


@dataclass(frozen=True, slots=True)
class _Oracle:
    problem: Problem

    async def __call__(self, question: str, candidate: Mapping[str, Any], /) -> Verdict:
        answer = candidate.get("answer")
        right = await score(self.problem, None if answer is None else str(answer))
        return Verdict(score=1.0 if right else 0.0, reason="oracle: checked against the label")


def oracle_verifier(problem: Problem) -> _Oracle:
    """Return a verifier that checks candidates against the problem's reference answer.

    It knows the answer, so a strategy given it is an oracle: its accuracy is an upper bound
    (pass@N), not what it would reach on new problems. The bench labels such rows.
    """
    return _Oracle(problem)
