"""Verifiers: how a candidate is judged.

A verifier is any callable ``(problem, candidate) -> score`` where the score is a `Verdict`,
a ``float`` in [0, 1], a ``bool``, or a ``(score, reason)`` pair; it may be sync or async.
`ExpectedAnswer` is the reference implementation for problems whose answer form is known and
checkable (a number's exact value, a short string).

Example:
    >>> verifier = ExpectedAnswer("42")
    >>> verifier("What is 6 x 7?", {"answer": "42.0", "text": "6 x 7 = 42.0"}).score
    1.0
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeAlias

from ponder._threads import in_daemon_thread
from ponder.errors import VerifierError
from ponder.verify.extract import canonical_number, normalize_text

__all__ = (
    "AnswerKind",
    "ExpectedAnswer",
    "Verdict",
    "VerdictLike",
    "Verifier",
    "answers_match",
    "run_verifier",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Verdict:
    """A verifier's judgment of one candidate."""

    score: float
    """How good the candidate is, from 0 (wrong) to 1 (verified)."""
    reason: str | None = None
    """Why, in a sentence; shown to users and stored with the candidate."""

    def __post_init__(self) -> None:
        if not isinstance(self.score, (int, float)) or not 0.0 <= self.score <= 1.0:
            raise VerifierError(f"a verdict's score must be in [0, 1], got {self.score!r}")


VerdictLike: TypeAlias = "Verdict | float | bool | tuple[float, str | None]"
"""What a verifier may return; `run_verifier` turns it into a `Verdict`."""


class Verifier(Protocol):
    """Judges a candidate. Sync or async; may raise (the candidate is then unverified)."""

    def __call__(
        self, problem: str, candidate: Mapping[str, Any], /
    ) -> VerdictLike | Awaitable[VerdictLike]:
        """Return a score for ``candidate`` (a `ponder.state.Candidate`) on ``problem``."""
        ...


AnswerKind = Literal["number", "string"]
"""How `ExpectedAnswer` compares answers.

- ``number``: exact numeric value (``"1,000"`` equals ``"1000.0"``; ``"1/2"`` equals ``"0.5"``).
- ``string``: case-, space- and end-punctuation-insensitive equality.
"""


def answers_match(answer: str | None, expected: str, kind: AnswerKind = "number") -> bool:
    """Return whether ``answer`` equals ``expected`` under the rules of ``kind``."""
    if answer is None:
        return False
    if kind == "number":
        got, want = canonical_number(answer), canonical_number(expected)
        if got is None or want is None:
            return False
        return _as_float(got) == _as_float(want) if ("/" in got) != ("/" in want) else got == want
    return normalize_text(answer) == normalize_text(expected)


def _as_float(number: str) -> float:
    num, _, den = number.partition("/")
    return float(num) / float(den) if den else float(num)


@dataclass(frozen=True, slots=True)
class ExpectedAnswer:
    """Accept a candidate whose extracted answer equals a known answer.

    This is the programmatic verifier for problems with a checkable answer: a test suite's
    expected value, a puzzle whose solution can be checked, a benchmark's label.

    Args:
        expected: The correct answer.
        kind: How answers are compared; see `AnswerKind`.
    """

    expected: str
    kind: AnswerKind = "number"

    def __call__(self, problem: str, candidate: Mapping[str, Any], /) -> Verdict:
        """Score 1.0 when the candidate's answer matches, else 0.0."""
        answer = candidate.get("answer")
        if answer is None:
            return Verdict(score=0.0, reason="no answer to check")
        if answers_match(answer, self.expected, self.kind):
            return Verdict(score=1.0, reason=f"matches the expected answer {self.expected}")
        return Verdict(score=0.0, reason=f"{answer} is not the expected answer")


def _coerce(value: object) -> Verdict:
    if isinstance(value, Verdict):
        return value
    if isinstance(value, bool):
        return Verdict(score=1.0 if value else 0.0)
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise VerifierError(f"the verifier returned a non-finite score {value!r}")
        return Verdict(score=float(value))
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], (int, float)):
        reason = value[1]
        return Verdict(score=float(value[0]), reason=None if reason is None else str(reason))
    raise VerifierError(
        f"a verifier must return a Verdict, a float, a bool or (score, reason); got {value!r}"
    )


async def run_verifier(
    verifier: Verifier, problem: str, candidate: Mapping[str, Any], *, timeout: float
) -> Verdict:
    """Run ``verifier`` with a time limit and normalize what it returns.

    Sync verifiers run in a worker thread, so a slow one cannot block the event loop. Whatever
    the verifier raises becomes a `VerifierError`, even a `BaseException` such as
    ``SystemExit``: a user's code must not end the run and lose its result. Only an
    interruption (``KeyboardInterrupt``) or a cancellation goes through.

    Raises:
        VerifierError: The verifier raised, timed out or returned something unusable.
    """
    try:
        result = await asyncio.wait_for(_judge(verifier, problem, candidate), timeout)
    except (TimeoutError, asyncio.TimeoutError) as exc:
        raise VerifierError(f"the verifier did not answer within {timeout:g} s") from exc
    return _coerce(result)


async def _judge(verifier: Verifier, problem: str, candidate: Mapping[str, Any]) -> object:
    """Call ``verifier``; what it raises comes out as `VerifierError`.

    The guard runs inside the task `asyncio.wait_for` makes: a ``SystemExit`` left to reach
    the task itself would be re-raised by the event loop, out of ``solve()``.
    """
    try:
        if inspect.iscoroutinefunction(verifier) or inspect.iscoroutinefunction(
            getattr(verifier, "__call__", None)  # noqa: B004 - async callable objects
        ):
            return await verifier(problem, candidate)  # type: ignore[misc]
        result = await in_daemon_thread(verifier, problem, candidate)
        if inspect.isawaitable(result):
            result = await result
        return result
    except (VerifierError, KeyboardInterrupt, asyncio.CancelledError):
        raise
    except BaseException as exc:  # user code: SystemExit, GeneratorExit, ...
        raise VerifierError(f"the verifier raised {type(exc).__name__}: {exc}") from exc
