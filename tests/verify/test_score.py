from __future__ import annotations

import pytest

from ponder.errors import ModelOutputError
from ponder.verify.score import parse_score, read_score


def test_parse_score_variants() -> None:
    assert parse_score("Score: 7", scale=10) == pytest.approx(0.7)
    assert parse_score("I'd give it 10/10", scale=10) == 1.0
    assert parse_score("Score: 42", scale=10) is None
    assert parse_score("4", scale=10, low=1) == pytest.approx(3 / 9)


def test_read_score_refuses_text_without_a_score() -> None:
    with pytest.raises(ModelOutputError, match="unusable value") as caught:
        read_score("no idea", scale=10, what="value")
    assert caught.value.text == "no idea"
