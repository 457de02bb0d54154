from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from ponder.errors import ConfigurationError
from ponder.verify import (
    ExpectedAnswer,
    MathAnswer,
    extract_code,
    extract_number,
    extract_repaired_number,
)
from ponder.verify.extract import extract_short_answer
from ponder.verify.record import (
    extractor_from_record,
    extractor_record,
    step_scorer_from_record,
    step_scorer_record,
    verifier_from_record,
    verifier_record,
)


class Judge:
    def __call__(self, problem: str, candidate: Any, /) -> float:
        return 1.0


def reward(problem: str, steps: Sequence[str], /) -> float:
    return 0.5


@pytest.mark.parametrize(
    "verifier", [None, ExpectedAnswer("42"), ExpectedAnswer("Paris", "string"), MathAnswer("1/2")]
)
def test_shipped_verifiers_round_trip(verifier: Any) -> None:
    assert verifier_from_record(verifier_record(verifier), "r") == verifier


@pytest.mark.parametrize(
    "extractor", [extract_repaired_number, extract_number, extract_short_answer, extract_code]
)
def test_shipped_extractors_round_trip(extractor: Any) -> None:
    assert extractor_from_record(extractor_record(extractor), "r") is extractor
    assert extractor_record(None) is None
    assert extractor_from_record(None, "r") is extract_repaired_number  # the default


def test_no_step_scorer_round_trips() -> None:
    assert step_scorer_record(None) is None and step_scorer_from_record(None, "r") is None


@pytest.mark.parametrize(
    ("record", "restore", "message"),
    [
        (verifier_record(Judge()), verifier_from_record, r"a verifier given as code \(Judge\)"),
        (verifier_record(lambda p, c: 1.0), verifier_from_record, r"\(<lambda>\).*verifier="),
        (extractor_record(str.strip), extractor_from_record, r"extractor .*\(strip\).*extractor="),
        (step_scorer_record(reward), step_scorer_from_record, r"\(reward\).*step_scorer=\.\.\."),
    ],
)
def test_code_is_recorded_by_name_and_must_be_passed_again(
    record: dict[str, Any], restore: Any, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=rf"run 'r7' used .*{message}"):
        restore(record, "r7")
