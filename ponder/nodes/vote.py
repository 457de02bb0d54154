"""Votes that read the model's confidence: weighted, filtered, and Borda.

A majority vote counts every sample alike. The model's own token probabilities
(`ponder.state.Confidence`, recorded per candidate) say more: a sample the model produced
with confidence is more often right (measured in the README). Three votes use it:

- `weighted_by_confidence`: each sample votes with ``exp(c / temperature)`` normalized over
  the samples, ``c`` its confidence measure (confidence-weighted self-consistency);
- `filtered_by_confidence`: only the most confident ``keep`` share of the samples vote, a
  majority among them (DeepConf's offline filtering), ties broken by summed confidence;
- `borda_by_confidence`: samples ranked by confidence vote ``(n - rank + 1) ** power``
  (self-certainty's Borda vote).

Candidates without a confidence (a model that reports no probabilities, or a run stored
before ponder recorded them) leave every vote a plain majority.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from ponder.state import Candidate

__all__ = (
    "ConfidenceMeasure",
    "borda_by_confidence",
    "confidence_value",
    "filtered_by_confidence",
    "weighted_by_confidence",
)

ConfidenceMeasure = Literal[
    "mean_logprob", "mean_confidence", "tail_confidence", "lowest_group", "self_certainty"
]
"""Which of a candidate's confidence figures a vote reads (see `ponder.models.confidence`)."""


def confidence_value(candidate: Candidate, measure: ConfidenceMeasure) -> float | None:
    """Return ``candidate``'s confidence by ``measure``, or ``None`` when it has none."""
    summary = candidate.get("confidence")
    if not summary:
        return None
    value = summary.get(measure)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _scored(
    candidates: Sequence[Candidate], measure: ConfidenceMeasure
) -> list[tuple[str, float]] | None:
    """(answer, confidence) of every answered candidate; ``None`` if any lacks confidence."""
    pairs: list[tuple[str, float]] = []
    for candidate in candidates:
        if candidate["answer"] is None:
            continue
        value = confidence_value(candidate, measure)
        if value is None:
            return None
        pairs.append((candidate["answer"], value))
    return pairs or None


def _count(pairs: Sequence[tuple[str, float]]) -> dict[str, float]:
    votes: dict[str, float] = {}
    for answer, _ in pairs:
        votes[answer] = votes.get(answer, 0.0) + 1.0
    return votes


def weighted_by_confidence(
    candidates: Sequence[Candidate], *, measure: ConfidenceMeasure, temperature: float = 1.0
) -> dict[str, float] | None:
    """Return answer -> summed softmax weight, or ``None`` without confidences.

    Example:
        >>> c = lambda a, v: {"answer": a, "confidence": {"lowest_group": v}}
        >>> votes = weighted_by_confidence([c("7", 5.0), c("8", 1.0), c("8", 1.0)],
        ...                                measure="lowest_group")
        >>> max(votes, key=votes.get)
        '7'
    """
    pairs = _scored(candidates, measure)
    if pairs is None:
        return None
    top = max(value for _, value in pairs)
    weights = [math.exp((value - top) / temperature) for _, value in pairs]
    total = sum(weights)
    votes: dict[str, float] = {}
    for (answer, _), weight in zip(pairs, weights, strict=True):
        votes[answer] = votes.get(answer, 0.0) + weight / total
    return votes


def filtered_by_confidence(
    candidates: Sequence[Candidate], *, measure: ConfidenceMeasure, keep: float = 0.5
) -> dict[str, float] | None:
    """Return the votes of the most confident ``keep`` share, or ``None`` without confidences.

    Each kept sample counts 1; a tie is broken by the summed confidence, added as a fraction
    below one vote.
    """
    pairs = _scored(candidates, measure)
    if pairs is None:
        return None
    ranked = sorted(pairs, key=lambda pair: pair[1], reverse=True)
    kept = ranked[: max(1, math.ceil(keep * len(ranked)))]
    votes = _count(kept)
    low = min(value for _, value in kept)
    spread = sum(value - low for _, value in kept) + 1.0
    for answer, value in kept:
        votes[answer] += 0.5 * (value - low + 1e-9) / spread
    return votes


def borda_by_confidence(
    candidates: Sequence[Candidate], *, measure: ConfidenceMeasure, power: float = 0.5
) -> dict[str, float] | None:
    """Return answer -> Borda points by confidence rank, or ``None`` without confidences."""
    pairs = _scored(candidates, measure)
    if pairs is None:
        return None
    ranked = sorted(pairs, key=lambda pair: pair[1], reverse=True)
    n = len(ranked)
    votes: dict[str, float] = {}
    for rank, (answer, _) in enumerate(ranked, start=1):
        votes[answer] = votes.get(answer, 0.0) + float(n - rank + 1) ** power
    return votes
