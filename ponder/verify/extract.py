"""Answer extraction: from a model's free text to a short, comparable answer.

An extractor is any callable ``(text) -> str | None``; ``None`` means the text holds no
answer (a candidate with no answer, never an error). Two are shipped: `extract_number` for
numeric answers and `extract_short_answer` for short strings.

Example:
    >>> extract_number("3 apples plus 4 apples make 7. The answer is 7.")
    '7'
    >>> extract_short_answer("Thinking... Answer: Paris.")
    'Paris'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from ponder.errors import ExtractorError

__all__ = (
    "Extractor",
    "canonical_number",
    "extract_number",
    "extract_short_answer",
    "normalize_text",
    "run_extractor",
)

Extractor = Callable[[str], "str | None"]
"""Turns a model's output into an answer, or ``None`` when there is none."""


def run_extractor(extractor: Extractor, text: str) -> str | None:
    """Run a (user's) extractor on ``text``; a number it returns is taken as its text.

    Raises:
        ExtractorError: The extractor raised, or returned something that is neither text,
            a number nor ``None``.

    Example:
        >>> run_extractor(lambda text: 7, "seven")
        '7'
    """
    try:
        answer: object = extractor(text)  # typed str | None, but user code may lie
    except Exception as exc:  # a user's extractor may raise anything
        raise ExtractorError(f"{type(exc).__name__}: {exc}") from exc
    if answer is None or isinstance(answer, str):
        return answer
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        return str(answer)
    raise ExtractorError(f"the extractor returned {type(answer).__name__}, not text or None")


_NUMBER = r"-?\$?\s?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?"
_MARKERS = (
    re.compile(r"\\boxed\{\s*(" + _NUMBER + r")\s*\}"),
    re.compile(r"####\s*(" + _NUMBER + ")"),
    re.compile(r"answer\s*(?:is|:|=)\s*[:=]?\s*\**\s*(" + _NUMBER + ")", re.IGNORECASE),
)
_ANY_NUMBER = re.compile(r"(?<![\w.])(" + _NUMBER + r")(?![\w])")
_THOUSANDS = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")


def canonical_number(raw: str) -> str | None:
    """Return a number's canonical spelling (``"1,000.50"`` -> ``"1000.5"``), or ``None``.

    Integers print without a decimal point, decimals without trailing zeros, fractions as
    ``p/q`` in lowest terms (or as an integer when whole).
    """
    text = raw.replace("$", "").replace(" ", "").strip().rstrip(".")
    if "," in text:
        if not _THOUSANDS.match(text):
            return None
        text = text.replace(",", "")
    try:
        if "/" in text:
            num, _, den = text.partition("/")
            if int(den) == 0:
                return None
            value = Fraction(int(num), int(den))
            return str(value.numerator) if value.denominator == 1 else str(value)
        number = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite():
        return None
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def extract_number(text: str) -> str | None:
    r"""Extract the final numeric answer from ``text``.

    An explicit marker wins (``\boxed{..}``, ``#### ..``, ``answer is ..``; the last one when
    there are several); otherwise the last number in the text.
    """
    for marker in _MARKERS:
        found = marker.findall(text)
        for raw in reversed(found):
            value = canonical_number(raw)
            if value is not None:
                return value
    for raw in reversed(_ANY_NUMBER.findall(text)):
        value = canonical_number(raw)
        if value is not None:
            return value
    return None


_SHORT_MARKER = re.compile(r"answer\s*(?:is|:)\s*(.+)", re.IGNORECASE)
_MAX_SHORT_WORDS = 8


def normalize_text(text: str) -> str:
    """Normalize a short answer for comparison: case, spaces, quotes and end punctuation."""
    text = text.strip().strip("*\"'`").strip()
    text = text.rstrip(".!?;:,").strip()
    return re.sub(r"\s+", " ", text).casefold()


def extract_short_answer(text: str) -> str | None:
    """Extract a short string answer (at most eight words) from ``text``.

    The text after the last ``Answer:`` / ``answer is`` marker wins, up to the end of its line;
    otherwise the whole text when it is already short; otherwise ``None``.
    """
    found = _SHORT_MARKER.findall(text)
    candidate = found[-1] if found else text
    candidate = candidate.strip().splitlines()[0] if candidate.strip() else ""
    candidate = candidate.strip().strip("*\"'`").strip().rstrip(".!?;:,").strip()
    if not candidate or len(candidate.split()) > _MAX_SHORT_WORDS:
        return None
    return candidate
