from __future__ import annotations

from typing import Any

import pytest

from ponder.nodes import weighted_tally


def test_weighted_tally_sums_scores() -> None:
    def cand(answer: str, score: float | None) -> Any:
        return {"answer": answer, "score": score}

    votes = weighted_tally([cand("7", 0.9), cand("8", 0.2), cand("8", 0.3), cand("9", None)])
    assert votes == {"7": 0.9, "8": pytest.approx(0.5)}
