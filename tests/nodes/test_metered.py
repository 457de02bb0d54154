from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from ponder.budget import Budget, Usage
from ponder.context import RunContext
from ponder.errors import BudgetExceeded, BudgetOverrun, ModelError
from ponder.nodes import CallRequest, Meter
from ponder.testing import ScriptedChatModel


def _meter(model: ScriptedChatModel, budget: Budget, **ctx: Any) -> Meter:
    context = RunContext(model=model, **ctx)
    return Meter({}, context, node="n", budget=budget, usage=Usage())


def _requests(n: int, max_tokens: int = 50) -> list[CallRequest]:
    return [
        CallRequest(
            messages=[HumanMessage("q")],
            candidate_id=f"c{i}",
            max_tokens=max_tokens,
            temperature=0.7,
            seed=i,
        )  # fmt: skip
        for i in range(n)
    ]


class _Counting(ScriptedChatModel):
    """Records the most calls in flight at once."""

    active: int = 0
    peak: int = 0

    async def _agenerate(self, *args: Any, **kwargs: Any) -> Any:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(0.02)
            return await super()._agenerate(*args, **kwargs)
        finally:
            self.active -= 1


async def test_concurrent_calls_reserve_their_worst_case_together() -> None:
    model = _Counting(replies=["x " * 80])  # every reply uses its whole output cap
    meter = _meter(model, Budget(tokens=200), min_tokens=10)
    results = await meter.calls(_requests(6))
    made = [r for r in results if r.entry is not None]
    spent = sum(r.entry["tokens_in"] + r.entry["tokens_out"] for r in made if r.entry)
    assert spent <= 200
    assert 1 < len(made) < 6  # some fit, the rest were refused before anything started
    refused = results[len(made) :]
    assert all(
        isinstance(r.failure, BudgetExceeded) and r.failure.limit == "tokens" for r in refused
    )
    assert model.peak == len(made)  # the ones made ran at the same time
    assert meter.ledger == [r.entry for r in made] and meter.stop_reason is None


async def test_the_concurrency_limit_holds() -> None:
    model = _Counting(replies=["ok"])
    results = await _meter(model, Budget(calls=20), max_concurrent_calls=3).calls(_requests(9))
    assert all(r.usable for r in results)
    assert model.peak == 3


async def test_time_waiting_for_a_call_slot_counts_against_the_seconds_budget() -> None:
    model = ScriptedChatModel(replies=["The answer is 1."], delay=0.6)
    meter = _meter(model, Budget(seconds=1.0), max_concurrent_calls=2)
    started = time.monotonic()
    results = await meter.calls(_requests(4, max_tokens=8))
    assert time.monotonic() - started < 1.0 + 0.3  # the second pair cannot take another 0.6 s
    assert [r.failure is None for r in results[:2]] == [True, True]
    assert all(r.entry is not None for r in results)  # every call made is on the ledger
    late = [r for r in results[2:] if r.failure is not None]
    assert late and all(r.stop_reason == "budget" for r in late)
    assert meter.stop_reason == "budget" and meter.errors[0]["kind"] == "BudgetExceeded"


async def test_a_refused_first_call_stops_the_run_and_says_why() -> None:
    meter = _meter(ScriptedChatModel(replies=["4"]), Budget(tokens=10))
    result = await meter.call([HumanMessage("a long prompt " * 5)], max_tokens=50)
    assert result.refused and not result.usable
    assert meter.stopped and meter.stop_reason == "budget"
    assert meter.errors[0]["kind"] == "BudgetExceeded"
    assert "cannot afford a single call" in meter.errors[0]["message"]
    with pytest.raises(BudgetExceeded):
        result.raise_for_status()
    assert meter.update(answer=None) == {
        "ledger": [], "errors": meter.errors, "answer": None, "stop_reason": "budget",
    }  # fmt: skip


async def test_a_failing_model_is_charged_and_recorded() -> None:
    meter = _meter(ScriptedChatModel(replies=[RuntimeError("boom")]), Budget(calls=3))
    result = await meter.call([HumanMessage("q")], max_tokens=8)
    assert len(meter.ledger) == 1 and not meter.ledger[0]["ok"]
    assert meter.errors[0]["kind"] == "ModelError" and meter.stop_reason == "error"
    with pytest.raises(ModelError, match="boom"):
        result.raise_for_status()


class _CapIgnoring(ScriptedChatModel):
    """Ignores max_tokens: always returns its full reply, and reports it honestly."""

    def _result(self, messages: list[Any], reply: Any, kwargs: dict[str, Any]) -> Any:
        return super()._result(messages, reply, {**kwargs, "max_tokens": None})


async def test_an_overrun_keeps_the_text_and_stops_the_run() -> None:
    meter = _meter(_CapIgnoring(replies=["word " * 40]), Budget(tokens=5000))
    result = await meter.call([HumanMessage("q")], max_tokens=5)
    assert result.usable and result.text.startswith("word")
    assert meter.stop_reason == "error" and meter.errors[0]["kind"] == "BudgetOverrun"
    with pytest.raises(BudgetOverrun):
        result.raise_for_status()


async def test_a_meter_reads_the_budget_and_the_ledger_from_the_state() -> None:
    context = RunContext(model=ScriptedChatModel(replies=["The answer is 7."]))
    spent = {"id": "e0", "node": "x", "candidate_id": None, "tokens_in": 10, "tokens_out": 5,
             "cost": 0.0, "latency_s": 0.1, "usage_reported": True, "ok": True}  # fmt: skip
    state: Any = {"budget": Budget(calls=2).to_limits(), "ledger": [spent]}
    meter = Meter(state, context, node="mine")
    assert meter.usage.calls == 1
    first = await meter.call([HumanMessage("q")], max_tokens=8)
    second = await meter.call([HumanMessage("q")], max_tokens=8)
    assert first.usable and second.refused  # two calls in all: the second is refused
    assert meter.stop_reason is None  # this step made a call before the refusal
    assert [e["node"] for e in meter.ledger] == ["mine"]
