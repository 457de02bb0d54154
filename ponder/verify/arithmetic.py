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

from ponder.verify.verifier import Verdict

__all__ = ("ArithmeticConsistency", "Equation", "find_equations")

_NUMBER = r"\d[\d,]*(?:\.\d+)?"
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
