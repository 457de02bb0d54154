"""`RunResult`: the FLOPs estimate of a run, from its ledger."""

from __future__ import annotations

from typing import Any

import pytest

import ponder
from ponder.errors import ConfigurationError
from ponder.models.openai_compat import from_base_url
from ponder.models.traits import traits_of
from ponder.runner import result_from
from ponder.testing import ScriptedChatModel


def entry(tokens_in: int, tokens_out: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"e{tokens_in}", "node": "attempt", "candidate_id": None, "tokens_in": tokens_in,
        "tokens_out": tokens_out, "cost": 0.0, "latency_s": 0.1, "usage_reported": True,
        "ok": True, **extra,
    }  # fmt: skip


def flops_of(*ledger: dict[str, Any]) -> float | None:
    return result_from({"ledger": list(ledger)}, strategy="s", wall_seconds=1.0).flops


def test_flops_sum_the_calls_and_are_unknown_if_any_is() -> None:
    assert flops_of(entry(10, 5, flops=300.0), entry(10, 5, tokens_cached=8, flops=140.0)) == 440
    assert flops_of(entry(10, 5, flops=300.0), entry(10, 5, flops=None)) is None
    assert flops_of() == 0.0  # no call, no compute


def test_a_run_stored_before_flops_were_estimated_reads_as_unknown() -> None:
    old = result_from({"ledger": [entry(10, 5), entry(7, 2)]}, strategy="s", wall_seconds=1.0)
    assert old.flops is None and old.usage.tokens == 24
    assert old.to_dict()["flops"] is None


def test_a_run_estimates_flops_from_the_models_declared_size() -> None:
    model = ScriptedChatModel(replies=["The answer is 4."], parameters=1_000)
    result = ponder.solve("What is 2 + 2?", model=model, max_samples=3)
    assert result.usage.calls > 1
    assert result.flops == 2 * 1_000 * result.usage.tokens  # nothing was cached
    assert result.to_dict()["flops"] == result.flops
    unknown = ponder.solve("What is 2 + 2?", model=ScriptedChatModel(replies=["4"]))
    assert unknown.flops is None


def test_a_url_model_is_of_unknown_size_unless_told() -> None:
    assert traits_of(from_base_url("http://127.0.0.1:1/v1")).flops(10) is None
    told = from_base_url("http://127.0.0.1:1/v1", parameters=500_000_000)
    assert traits_of(told).flops(10) == 2 * 500_000_000 * 10
    assert "parameters" not in told._get_request_payload("hi", max_tokens=7)
    for bad in (0, -3, 1.5, True, "7B"):
        with pytest.raises(ConfigurationError, match="parameter count"):
            from_base_url("http://127.0.0.1:1/v1", parameters=bad)  # type: ignore[arg-type]
