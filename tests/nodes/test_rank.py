"""The answer ranker: features, scores, the shipped weights, and bad weight files."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from ponder.errors import ConfigurationError
from ponder.nodes import AnswerRanker, ConfidenceVote
from ponder.nodes.rank import (
    DEFAULT_RANKER,
    FEATURES,
    NO_THOUGHT,
    answer_features,
    default_ranker,
)
from ponder.nodes.select import choose


def _c(kind: str, answer: str | None, temperature: float = 0.7, logprob: float | None = None
       ) -> dict[str, Any]:  # fmt: skip
    candidate: dict[str, Any] = {"kind": kind, "answer": answer, "temperature": temperature}
    if logprob is not None:
        candidate["confidence"] = {"mean_logprob": logprob}
    return candidate


def test_features_count_votes_greedy_programs_and_standardized_confidence() -> None:
    pool = [
        _c("attempt", "8", 0.0, logprob=-0.2), _c("attempt", "9", logprob=-0.6),
        _c("attempt", "9", logprob=-1.0), _c("attempt", None, logprob=-0.2),
        _c("program", "9"), _c("program", "7"),
    ]  # fmt: skip
    features = answer_features(pool)  # type: ignore[arg-type]
    assert list(features) == ["8", "9", "7"]  # order of appearance
    votes, greedy, programs, confidence = features["8"]
    assert (votes, greedy, programs) == (0.25, 1.0, 0.0)
    values = [-0.2, -0.6, -1.0, -0.2]
    mean = sum(values) / 4
    spread = math.sqrt(sum((v - mean) ** 2 for v in values) / 4)
    assert confidence == pytest.approx((-0.2 - mean) / spread, rel=1e-4)
    assert features["9"][:3] == (0.5, 0.0, 0.5)
    assert features["9"][3] == pytest.approx((-0.6 - mean) / spread, rel=1e-4)  # the best of two
    assert features["7"] == (0.0, 0.0, 0.5, NO_THOUGHT)  # a program alone says it


def test_without_confidence_the_feature_is_neutral() -> None:
    features = answer_features([_c("attempt", "8", 0.0), _c("attempt", "9")])  # type: ignore[list-item]
    assert features == {"8": (0.5, 1.0, 0.0, 0.0), "9": (0.5, 0.0, 0.0, 0.0)}
    assert answer_features([]) == {}


def test_scores_are_probabilities_and_the_best_wins() -> None:
    ranker = AnswerRanker(weights=(3.0, 0.5, 5.0, 0.25), bias=-2.5)
    pool = [_c("attempt", "8", 0.0), _c("attempt", "9"), _c("program", "9")]
    scores = ranker.scores(pool)  # type: ignore[arg-type]
    assert all(0.0 < s < 1.0 for s in scores.values())
    assert scores["9"] > scores["8"] and ranker.best(pool) == "9"  # type: ignore[arg-type]
    assert ranker.best([]) is None


def test_choose_ranked_reads_the_given_ranker_and_reports_its_scores() -> None:
    greedy_first = AnswerRanker(weights=(0.0, 5.0, 0.0, 0.0), bias=0.0)
    programs_first = AnswerRanker(weights=(0.0, 0.0, 5.0, 0.0), bias=0.0)
    pool: Any = [_c("attempt", "8", 0.0), _c("attempt", "9"), _c("program", "9")]
    answer, votes = choose("ranked", pool, ConfidenceVote(ranker=greedy_first))
    assert answer == "8" and set(votes) == {"8", "9"} and votes["8"] > 0.5
    assert choose("ranked", pool, ConfidenceVote(ranker=programs_first))[0] == "9"
    assert choose("ranked", [], ConfidenceVote(ranker=programs_first)) == (None, {})


def test_the_shipped_ranker_loads_and_says_where_it_comes_from() -> None:
    ranker = default_ranker()
    assert DEFAULT_RANKER.is_file() and len(ranker.weights) == len(FEATURES)
    assert ranker.fitted_on["split"] == "tune"
    # Every candidate shape the strategies make can be ranked (no answer at all included).
    assert choose("ranked", [_c("attempt", None, 0.0)])[0] is None  # type: ignore[list-item]


def test_dump_and_load_round_trip(tmp_path: Path) -> None:
    ranker = AnswerRanker(weights=(1.0, 2.0, 3.0, 4.0), bias=-1.0, fitted_on={"model": "x"})
    assert AnswerRanker.load(ranker.dump(tmp_path / "r.json")) == ranker


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "cannot read"),
        (json.dumps({"features": ["votes"], "weights": [1], "bias": 0}), "not an answer ranker"),
        (json.dumps({"features": list(FEATURES), "weights": "1,2", "bias": 0}), "must be a list"),
        (json.dumps({"features": list(FEATURES), "weights": [1, 2, 3], "bias": 0}), "4 finite"),
        (json.dumps({"features": list(FEATURES), "weights": [1, 2, 3, "x"], "bias": 0}), "finite"),
        (json.dumps({"features": list(FEATURES), "weights": [1, 2, 3, 4], "bias": None}), "finite"),
        (json.dumps([1, 2]), "not an answer ranker"),
    ],
)
def test_a_bad_ranker_file_is_a_clear_error(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "ranker.json"
    path.write_text(content)
    with pytest.raises(ConfigurationError, match=match):
        AnswerRanker.load(path)


def test_a_missing_ranker_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read the answer ranker"):
        AnswerRanker.load(tmp_path / "absent.json")
