"""What a model's own token probabilities say about a sample: its confidence, summarized.

The embedded model records, for every token it generates, the token's log-probability, the
mean log-probability of the few most likely tokens at that step, and the mean over the whole
vocabulary (`ponder.models._batch`). An OpenAI-compatible server gives the first two when
asked for ``logprobs`` with ``top_logprobs``. `summarize` turns those per-token figures into
a few numbers per sample (`Confidence`), kept on the candidate; `confidence_of` reads them
from a model's reply, and gives ``None`` for a model that reports no probabilities (then
everything that uses confidence falls back to plain votes).

The measures, each higher for a more confident sample:

- ``mean_logprob``: the mean log-probability of the sampled tokens.
- ``mean_confidence``: the mean token confidence, where a token's confidence is minus the
  mean log-probability of the most likely tokens at its step (as in DeepConf: a peaked
  distribution scores high).
- ``tail_confidence``: the mean token confidence of the last `TAIL` tokens (where a short
  solution states its answer).
- ``lowest_group``: the lowest mean token confidence over any `WINDOW` consecutive tokens
  (DeepConf's lowest group confidence: one confused stretch marks the whole sample).
- ``self_certainty``: the mean over tokens of the KL divergence from the uniform distribution
  to the model's (Kang et al.), where the model reports the whole distribution.

Example:
    >>> summary = summarize([-0.1, -0.2, -2.0], [-3.0, -3.0, -1.0], window=2, tail=1)
    >>> summary["tokens"], round(summary["mean_logprob"], 3), summary["lowest_group"]
    (3, -0.767, 2.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ponder.state import Confidence

__all__ = ("TAIL", "WINDOW", "Confidence", "confidence_of", "summarize")

WINDOW = 16
"""Tokens per group for ``lowest_group`` (DeepConf uses 2,048 on long reasoning traces;
the embedded models' solutions are 20 to 200 tokens)."""
TAIL = 32
"""Tokens at the end of a sample that ``tail_confidence`` averages over."""


def summarize(
    logprobs: Sequence[float],
    top_logprobs: Sequence[float],
    mean_logprobs: Sequence[float] | None = None,
    *,
    vocab_size: int | None = None,
    window: int = WINDOW,
    tail: int = TAIL,
) -> Confidence | None:
    """Summarize per-token figures into a `Confidence`; ``None`` for no tokens.

    Args:
        logprobs: Each sampled token's log-probability.
        top_logprobs: Each step's mean log-probability of its most likely tokens.
        mean_logprobs: Each step's mean log-probability over the vocabulary (for
            ``self_certainty``; needs ``vocab_size``).
        vocab_size: The vocabulary's size.
        window: Tokens per group of ``lowest_group``.
        tail: Tokens of ``tail_confidence``.
    """
    count = min(len(logprobs), len(top_logprobs))
    if count == 0:
        return None
    confidence = [-value for value in top_logprobs[:count]]
    span = max(1, min(window, count))
    running = sum(confidence[:span])
    lowest = running
    for i in range(span, count):
        running += confidence[i] - confidence[i - span]
        lowest = min(lowest, running)
    certainty = None
    if mean_logprobs and vocab_size:
        log_v = math.log(vocab_size)
        certainty = sum(-log_v - m for m in mean_logprobs[:count]) / count
    last = confidence[-min(tail, count) :]
    return Confidence(
        tokens=count,
        mean_logprob=sum(logprobs[:count]) / count,
        mean_confidence=sum(confidence) / count,
        tail_confidence=sum(last) / len(last),
        lowest_group=lowest / span,
        self_certainty=certainty,
    )


def confidence_of(metadata: Mapping[str, Any]) -> Confidence | None:
    """Return the `Confidence` a reply's ``response_metadata`` carries, or ``None``.

    Reads the embedded model's summary (``confidence``) or an OpenAI-style ``logprobs``
    block (``{"content": [{"logprob": ..., "top_logprobs": [{"logprob": ...}, ...]}]}``).
    """
    summary = metadata.get("confidence")
    if isinstance(summary, Mapping) and "mean_logprob" in summary:
        found: Confidence = {**summary}  # type: ignore[typeddict-item]
        return found
    block = metadata.get("logprobs")
    content = block.get("content") if isinstance(block, Mapping) else None
    if not isinstance(content, list) or not content:
        return None
    logprobs: list[float] = []
    tops: list[float] = []
    for item in content:
        if not isinstance(item, Mapping) or not isinstance(item.get("logprob"), (int, float)):
            return None
        top = [t.get("logprob") for t in item.get("top_logprobs") or [] if isinstance(t, Mapping)]
        values = [float(v) for v in top if isinstance(v, (int, float)) and math.isfinite(v)]
        logprobs.append(float(item["logprob"]))
        tops.append(sum(values) / len(values) if values else float(item["logprob"]))
    return summarize(logprobs, tops)
