"""A label-free check of a solution's arithmetic: every ``a op b = c`` it states, recomputed.

Small models often reason in the right direction and then write ``17 + 25 = 32``. Such a
slip can be found without knowing the answer: `ArithmeticConsistency` finds every equation
the text states (numbers joined by ``+ - * x × / ÷``, then ``=`` and a number), recomputes
the left side exactly (fractions, usual precedence), and judges the candidate:

- ``1.0`` when it states at least one equation and every one is right;
- ``0.0`` when any is wrong (the reason names it and its correct value);
- ``0.5`` when it states none (nothing to check: no evidence either way).

It knows nothing of the expected answer, so it can serve best-of-N, votes and tree search
on new problems.

`repair_arithmetic` goes one step further: it replaces a wrong result by the recomputed one
and carries the correction forward (every later mention of the wrong number, the equations
that build on it and the stated answer), so a solution that set out right and slipped gives
the answer its own reasoning leads to. `extract_repaired_number`, ponder's default answer
extractor, reads the number from the repaired text; the candidate keeps the model's text as
it was written. Measured on held-in problems (``benchmarks/repair.py``), it is what moves
greedy decoding most on this project's small model.

Example:
    >>> check = ArithmeticConsistency()
    >>> check("q", {"text": "17 + 25 = 32. The answer is 32."}).reason
    '17 + 25 = 32 is wrong: 42'
    >>> check("q", {"text": "3 x 4 = 12, 12 - 5 = 7. The answer is 7."}).score
    1.0
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ponder.verify.extract import extract_number
from ponder.verify.verifier import Verdict

__all__ = (
    "ArithmeticConsistency",
    "Equation",
    "Repair",
    "extract_repaired_number",
    "find_equations",
    "repair_arithmetic",
)

_NUMBER = r"\d(?:[\d,]*\d)?(?:\.\d+)?"
_OP = r"[-+*/x×÷]"
_EQUATION = re.compile(
    rf"(?<![\w.])(-?\$?{_NUMBER}(?:\s*{_OP}\s*\$?{_NUMBER})+)\s*=\s*\$?(-?{_NUMBER})(?![\d])"
)
_TOKEN = re.compile(rf"\$?({_NUMBER})|({_OP})")


@dataclass(frozen=True, kw_only=True, slots=True)
class Equation:
    """One equation a text states."""

    text: str
    """The equation as written."""
    stated: Fraction
    """The result the text states."""
    computed: Fraction | None
    """The left side, recomputed (``None`` when it cannot be: a division by zero)."""

    @property
    def right(self) -> bool:
        """Whether the stated result is the computed one."""
        return self.computed is not None and self.computed == self.stated


def _number(raw: str) -> Fraction | None:
    text = raw.replace(",", "")
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None


def _evaluate(expression: str) -> Fraction | None:
    """Evaluate numbers and operators with the usual precedence, exactly."""
    values: list[Fraction] = []
    ops: list[str] = []
    negative = expression.lstrip().startswith("-")
    if negative:
        expression = expression.lstrip()[1:]
    for number, op in _TOKEN.findall(expression):
        if number:
            value = _number(number)
            if value is None:
                return None
            values.append(value)
        else:
            ops.append({"x": "*", "×": "*", "÷": "/"}.get(op, op))
    if len(values) != len(ops) + 1:
        return None
    if negative:
        values[0] = -values[0]
    terms: list[Fraction] = [values[0]]
    signs: list[str] = []
    for op, value in zip(ops, values[1:], strict=True):
        if op in "*/":
            if op == "/" and value == 0:
                return None
            terms[-1] = terms[-1] * value if op == "*" else terms[-1] / value
        else:
            signs.append(op)
            terms.append(value)
    total = terms[0]
    for sign, term in zip(signs, terms[1:], strict=True):
        total = total + term if sign == "+" else total - term
    return total


def find_equations(text: str) -> list[Equation]:
    """Return every equation ``text`` states, in order (see the module docstring)."""
    found = []
    for match in _EQUATION.finditer(text):
        stated = _number(match.group(2).lstrip("-"))
        if stated is None:
            continue
        if match.group(2).startswith("-"):
            stated = -stated
        found.append(
            Equation(text=match.group(0).strip(), stated=stated, computed=_evaluate(match.group(1)))
        )
    return found


def _show(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Repair:
    """A text with its stated arithmetic recomputed (`repair_arithmetic`)."""

    text: str
    """The text, every wrong result replaced and the correction carried forward."""
    fixes: tuple[str, ...] = ()
    """What was corrected, in order (``"17 + 25 = 32 -> 42"``); empty when nothing was."""


_MOST_FIXES = 16
"""Corrections one text gets at most (each is followed by a fresh read of the text)."""


def repair_arithmetic(text: str) -> Repair:
    """Recompute the equations ``text`` states, carrying each correction forward.

    The first wrong equation's result is replaced by its computed value, and every later
    mention of the wrong number (as a whole number: ``32`` but not ``320`` or ``3.2``) by
    the corrected one; then the text is read again, so an equation that used the wrong
    number is checked with the corrected one. Equations that cannot be recomputed (a
    division by zero) are left alone.

    Example:
        >>> fixed = repair_arithmetic("17 + 25 = 32. 32 - 2 = 30. The answer is 30.")
        >>> fixed.text
        '17 + 25 = 42. 42 - 2 = 40. The answer is 40.'
        >>> fixed.fixes
        ('17 + 25 = 32 -> 42', '42 - 2 = 30 -> 40')
    """
    fixes: list[str] = []
    for _ in range(_MOST_FIXES):
        wrong = next((m for m in _EQUATION.finditer(text) if _wrong(m) is not None), None)
        if wrong is None:
            break
        computed = _wrong(wrong)
        assert computed is not None
        written = wrong.group(2).lstrip("-")
        start, end = wrong.span(2)
        corrected = _show(computed)
        fixes.append(f"{wrong.group(0).strip()} -> {corrected}")
        later = re.sub(rf"(?<![\d.,]){re.escape(written)}(?![\d])", corrected, text[end:])
        text = text[:start] + corrected + later
    return Repair(text=text, fixes=tuple(fixes))


def _wrong(match: re.Match[str]) -> Fraction | None:
    """The recomputed value of an equation whose stated result is wrong, else ``None``."""
    stated = _number(match.group(2).lstrip("-"))
    if stated is None:
        return None
    if match.group(2).startswith("-"):
        stated = -stated
    computed = _evaluate(match.group(1))
    return computed if computed is not None and computed != stated else None


def extract_repaired_number(text: str) -> str | None:
    """Extract the final number from ``text`` after its arithmetic is repaired.

    ponder's default answer extractor: `ponder.verify.extract_number` on the text that
    `repair_arithmetic` returns, so a stated slip (``4 x 8 = 36. The answer is 36.``) gives
    the answer the reasoning leads to (``32``). A text with no wrong equation gives what
    `extract_number` gives.

    Example:
        >>> extract_repaired_number("4 x 8 = 36. The answer is 36.")
        '32'
    """
    return extract_number(repair_arithmetic(text).text)


@dataclass(frozen=True, kw_only=True, slots=True)
class ArithmeticConsistency:
    """A verifier that recomputes the arithmetic a candidate states (module docstring)."""

    unchecked: float = 0.5
    """The score of a candidate that states no equation."""

    def __call__(self, problem: str, candidate: Mapping[str, Any]) -> Verdict:
        """Judge ``candidate``'s stated arithmetic; ``problem`` is not needed."""
        equations = find_equations(str(candidate.get("text", "")))
        if not equations:
            return Verdict(score=self.unchecked, reason="no arithmetic to check")
        wrong = [e for e in equations if not e.right]
        if not wrong:
            count = len(equations)
            return Verdict(score=1.0, reason=f"{count} equation{'s' * (count > 1)} check out")
        first = wrong[0]
        correct = "undefined" if first.computed is None else _show(first.computed)
        return Verdict(score=0.0, reason=f"{first.text} is wrong: {correct}")
