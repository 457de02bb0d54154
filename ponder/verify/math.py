r"""Math answers compared by symbolic equivalence, through the ``math-verify`` package.

``1/2``, ``0.5`` and ``\frac{1}{2}`` are the same answer; so are ``x^2 - 1`` and
``(x-1)(x+1)``. Needs ``pip install 'ponder[math]'``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ponder.errors import ConfigurationError
from ponder.verify.verifier import Verdict

__all__ = ("MathAnswer", "math_equal")


def math_equal(answer: str, expected: str) -> bool:
    """Return whether two math answers are equivalent (LaTeX or plain expressions)."""
    try:
        from math_verify import parse, verify
    except ImportError as exc:
        raise ConfigurationError(
            "math equivalence needs the math-verify package: pip install 'ponder[math]'"
        ) from exc

    def parsed(text: str) -> Any:
        wrapped = text if "$" in text or r"\boxed" in text else f"${text}$"
        # No signal-based time limit: verifiers run in worker threads, where signals fail;
        # the verify node's own timeout bounds the call instead.
        return parse(wrapped, parsing_timeout=None)

    gold, guess = parsed(expected), parsed(answer)
    if not gold or not guess:
        return False
    return bool(verify(gold, guess, timeout_seconds=None))


@dataclass(frozen=True, slots=True)
class MathAnswer:
    r"""Accept a candidate whose answer is mathematically equivalent to ``expected``.

    Example:
        >>> MathAnswer(r"\frac{1}{2}")("q", {"answer": "0.5"}).score
        1.0
    """

    expected: str

    def __call__(self, problem: str, candidate: Mapping[str, Any], /) -> Verdict:
        """Score 1.0 when the answers are equivalent, else 0.0."""
        answer = candidate.get("answer")
        if not answer:
            return Verdict(score=0.0, reason="no answer to check")
        if math_equal(str(answer), self.expected):
            return Verdict(score=1.0, reason=f"equivalent to {self.expected}")
        return Verdict(score=0.0, reason=f"{answer} is not equivalent to {self.expected}")
