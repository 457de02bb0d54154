from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage

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


class _Caching(ScriptedChatModel):
    """Says ``cached`` prompt tokens came from its cache: as the embedded model does, or as
    a server reports it (LangChain's ``input_token_details.cache_read``)."""

    cached: Any = 3
    as_server: bool = False

    def _result(self, messages: list[Any], reply: Any, kwargs: dict[str, Any]) -> Any:
        result = super()._result(messages, reply, kwargs)
        message = result.generations[0].message
        assert isinstance(message, AIMessage)
        if self.as_server and message.usage_metadata is not None:
            message.usage_metadata["input_token_details"] = {"cache_read": self.cached}
        elif not self.as_server:
            message.response_metadata["reused_prompt_tokens"] = self.cached
        return result


FIVE_WORDS = [HumanMessage("one two three four five")]
"""A prompt of 5 tokens, as the scripted model counts them (one per word)."""


@pytest.mark.parametrize("as_server", [False, True])
async def test_flops_count_the_prompt_tokens_not_read_from_the_cache(as_server: bool) -> None:
    model = _Caching(replies=["a b c"], parameters=10, as_server=as_server)
    meter = _meter(model, Budget(tokens=100))
    result = await meter.call(FIVE_WORDS, max_tokens=8)
    entry = result.entry
    assert entry is not None and (entry["tokens_in"], entry["tokens_out"]) == (5, 3)
    assert entry["tokens_cached"] == 3
    assert entry["flops"] == 2 * 10 * (5 - 3 + 3)  # 2 x parameters x tokens processed


@pytest.mark.parametrize("cached", [True, -1, 6, 2.5, "3", None])
async def test_an_implausible_cache_count_is_not_believed(cached: Any) -> None:
    model = _Caching(replies=["a b c"], parameters=10, cached=cached)
    entry = (await _meter(model, Budget(tokens=100)).call(FIVE_WORDS, max_tokens=8)).entry
    assert entry is not None and entry["tokens_cached"] == 0
    assert entry["flops"] == 2 * 10 * (5 + 3)  # the whole prompt assumed processed


async def test_flops_are_unknown_without_the_parameter_count() -> None:
    entry = (await _meter(_Caching(replies=["a b c"]), Budget(tokens=100)).call(
        FIVE_WORDS, max_tokens=8
    )).entry  # fmt: skip
    assert entry is not None and entry["tokens_cached"] == 3 and entry["flops"] is None


async def test_unreported_usage_and_failed_calls_count_what_they_are_charged() -> None:
    silent = _Caching(replies=["a b c"], parameters=10, report_usage=False)
    entry = (await _meter(silent, Budget(tokens=1000)).call(FIVE_WORDS, max_tokens=8)).entry
    assert entry is not None and not entry["usage_reported"] and entry["tokens_cached"] == 0
    assert entry["flops"] == 2 * 10 * (entry["tokens_in"] + entry["tokens_out"])
    failing = ScriptedChatModel(replies=[RuntimeError("stream broke")], parameters=10)
    entry = (await _meter(failing, Budget(tokens=1000)).call(FIVE_WORDS, max_tokens=8)).entry
    assert entry is not None and not entry["ok"] and entry["tokens_out"] == 8  # its worst case
    assert entry["flops"] == 2 * 10 * (entry["tokens_in"] + 8)


@pytest.mark.embedded
async def test_the_embedded_model_counts_a_cached_prompt_prefix_once(smollm2: Any) -> None:
    meter = Meter({}, RunContext(model=smollm2), node="n", budget=Budget(tokens=5000),
                  usage=Usage())  # fmt: skip
    prompt = [HumanMessage("Think about the number 48. What is half of it? Answer briefly.")]
    first = await meter.call(prompt, max_tokens=8)
    again = await meter.call(prompt, max_tokens=8, seed=1, temperature=0.7)
    parameters = smollm2.count_parameters()
    assert parameters is not None and 100e6 < parameters < 200e6  # SmolLM2-135M
    for result in (first, again):
        entry = result.entry
        assert entry is not None and entry["flops"] is not None and entry["flops"] > 0
        processed = entry["tokens_in"] - entry["tokens_cached"] + entry["tokens_out"]
        assert entry["flops"] == 2.0 * parameters * processed
    assert first.entry is not None and again.entry is not None
    # The first call left its prompt in the KV cache: the second, with the same prompt,
    # processes fewer prompt tokens than the prompt has (the last one is decoded again, for
    # its logits), and is estimated at fewer FLOPs than its whole prompt would cost.
    assert again.entry["tokens_in"] == first.entry["tokens_in"]
    assert first.entry["tokens_cached"] < again.entry["tokens_cached"] < again.entry["tokens_in"]
    whole = 2.0 * parameters * (again.entry["tokens_in"] + again.entry["tokens_out"])
    assert again.entry["flops"] < whole
