"""Reading numbers a model was asked to give (scores, ratings) out of free text.

A local server may refuse structured output (llama.cpp's rejects a JSON-schema response
format), so ponder asks for ``Score: <number>`` in plain text and parses it. Text with no
usable number is reported as such (``None``), never replaced by a default score.

Example:
    >>> parse_score("Score: 8/10, looks right", scale=10)
    0.8
    >>> parse_score("I am not sure.", scale=10) is None
    True
"""

from __future__ import annotations

import re

from ponder.errors import ModelOutputError

__all__ = ("parse_score", "read_score")

_LABELLED = re.compile(r"(?:score|rating|difficulty|promise)\W{0,3}(\d+(?:\.\d+)?)", re.IGNORECASE)
_BARE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)(?![\d.])")


def parse_score(text: str, *, scale: float, low: float = 0.0) -> float | None:
    """Return the first labelled (else first) number in ``text`` mapped to [0, 1].

    Args:
        text: The model's reply.
        scale: The top of the scale the model was asked to use.
        low: The bottom of that scale (1 for "from 1 to 10").

    Returns:
        ``(number - low) / (scale - low)``, or ``None`` when no number in range is found.
    """
    for pattern in (_LABELLED, _BARE):
        for raw in pattern.findall(text):
            value = float(raw)
            if low <= value <= scale:
                return (value - low) / (scale - low)
    return None


def read_score(text: str, *, scale: float, low: float = 0.0, what: str = "score") -> float:
    """Return `parse_score` of ``text``, refusing text that holds no score.

    Raises:
        ModelOutputError: No number in range is found (the error carries the text).

    Example:
        >>> read_score("Rating: 7", scale=10, low=1)
        0.6666666666666666
    """
    value = parse_score(text, scale=scale, low=low)
    if value is None:
        raise ModelOutputError(f"unusable {what}", text=text)
    return value
