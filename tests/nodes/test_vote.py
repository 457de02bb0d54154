from __future__ import annotations

from typing import Any

from ponder.nodes.vote import (
    borda_by_confidence,
    confidence_value,
    filtered_by_confidence,
    weighted_by_confidence,
)


def cand(answer: str | None, value: float | None) -> Any:
    confidence = None if value is None else {"lowest_group": value, "mean_logprob": -value}
    return {"answer": answer, "confidence": confidence}


def test_a_confident_minority_wins_the_weighted_and_filtered_votes() -> None:
    samples = [cand("7", 6.0), cand("8", 2.0), cand("8", 2.1), cand(None, 9.0)]
    weighted = weighted_by_confidence(samples, measure="lowest_group", temperature=1.0)
    assert weighted is not None and max(weighted, key=weighted.__getitem__) == "7"
    filtered = filtered_by_confidence(samples, measure="lowest_group", keep=0.3)
    assert filtered is not None and list(filtered) == ["7"]  # only the top third votes
    borda = borda_by_confidence(samples, measure="lowest_group", power=1.0)
    assert borda == {"7": 3.0, "8": 3.0}  # ranks 1 (3 points) vs 2 + 3 (2 + 1 points)


def test_a_hot_weighting_is_a_majority_and_missing_confidence_is_no_vote() -> None:
    samples = [cand("7", 6.0), cand("8", 2.0), cand("8", 2.1)]
    weighted = weighted_by_confidence(samples, measure="lowest_group", temperature=1e6)
    assert weighted is not None and max(weighted, key=weighted.__getitem__) == "8"
    assert weighted_by_confidence([cand("7", None)], measure="lowest_group") is None
    assert filtered_by_confidence([cand("7", 1.0), cand("8", None)], measure="lowest_group") is None
    assert confidence_value(cand("7", 2.0), "self_certainty") is None
