from __future__ import annotations

import math
from typing import Any

import pytest

from ponder.models.confidence import confidence_of, summarize


def test_summaries_of_per_token_figures() -> None:
    summary = summarize([-0.5, -0.1, -3.0, -0.2], [-4.0, -5.0, -1.0, -5.0], window=2, tail=2)
    assert summary is not None
    assert summary["tokens"] == 4 and summary["mean_logprob"] == pytest.approx(-0.95)
    assert summary["mean_confidence"] == pytest.approx(3.75)
    assert summary["lowest_group"] == pytest.approx(3.0)  # (5 + 1) / 2 or (1 + 5) / 2
    assert summary["tail_confidence"] == pytest.approx(3.0)
    assert summary["self_certainty"] is None
    assert summarize([], []) is None
    certain = summarize([-0.1], [-1.0], [-10.0], vocab_size=1000)
    assert certain is not None
    assert certain["self_certainty"] == pytest.approx(-math.log(1000) + 10.0)


def test_openai_style_logprobs_are_read_and_garbage_is_not() -> None:
    block = {"content": [
        {"token": "7", "logprob": -0.1, "top_logprobs": [{"logprob": -0.1}, {"logprob": -3.0}]},
        {"token": ".", "logprob": -0.5, "top_logprobs": []},
    ]}  # fmt: skip
    summary = confidence_of({"logprobs": block})
    assert summary is not None and summary["tokens"] == 2
    assert summary["mean_confidence"] == pytest.approx((1.55 + 0.5) / 2)
    assert confidence_of({}) is None
    assert confidence_of({"logprobs": {"content": [{"logprob": "x"}]}}) is None
    assert confidence_of({"confidence": {"mean_logprob": -1.0, "tokens": 3}})["tokens"] == 3  # type: ignore[index]


@pytest.mark.embedded
async def test_the_embedded_model_reports_confidence_and_flops(smollm2: Any) -> None:
    import ponder

    result = await ponder.asolve(
        "What is 12 + 7?", model=smollm2, budget=ponder.Budget(tokens=3000), max_samples=3,
        min_samples=3, agreement=1.0, greedy_first=True, programs=0,
    )  # fmt: skip
    assert len(result.candidates) == 3
    for candidate in result.candidates:
        confidence = candidate["confidence"]
        assert confidence is not None and confidence["tokens"] == candidate["tokens_out"]
        assert confidence["mean_logprob"] <= 0 < confidence["mean_confidence"]
        assert confidence["self_certainty"] is not None and confidence["self_certainty"] > 0
    assert result.flops is not None
    params = smollm2.count_parameters()
    assert 100e6 < params < 200e6  # SmolLM2-135M
    tokens = result.usage.tokens
    assert 2 * params * result.usage.tokens_out < result.flops <= 2 * params * tokens
    assert result.candidates[0]["temperature"] == 0.0  # greedy first
