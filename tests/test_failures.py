"""Regressions for failure paths: hostile models, verifiers and extractors."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.graph import END, START, StateGraph

import ponder
import ponder.runs
from ponder.context import RunContext
from ponder.errors import NodeError
from ponder.runner import drive, result_from
from ponder.state import RunState
from ponder.testing import ScriptedChatModel


class ZeroUsageModel(ScriptedChatModel):
    """Reports usage of zero tokens for every reply (a broken server)."""

    def _result(self, messages: list[BaseMessage], reply: Any, kwargs: dict[str, Any]) -> Any:
        result = super()._result(messages, reply, kwargs)
        message = result.generations[0].message
        assert isinstance(message, AIMessage)
        zero: Any = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
        message.usage_metadata = zero
        return result


class CapIgnoringModel(ScriptedChatModel):
    """Ignores max_tokens: always returns its full reply, and reports it honestly."""

    def _result(self, messages: list[BaseMessage], reply: Any, kwargs: dict[str, Any]) -> Any:
        return super()._result(messages, reply, {**kwargs, "max_tokens": None})


LONG = " ".join(["word"] * 400) + " The answer is 4."


async def test_zero_usage_is_charged_as_unreported() -> None:
    model = ZeroUsageModel(replies=["The answer is 4. " + " ".join(["x"] * 50)])
    result = await ponder.asolve(
        "q", model=model, budget=ponder.Budget(tokens=1000), max_samples=40, agreement=1.0
    )
    assert result.usage.tokens <= 1000
    assert result.usage.tokens > 0
    assert not any(entry["usage_reported"] for entry in result.ledger)


async def test_unreported_usage_is_charged_within_the_cap() -> None:
    model = ScriptedChatModel(replies=[LONG], report_usage=False)
    result = await ponder.asolve(
        "q", model=model, budget=ponder.Budget(tokens=1500), max_samples=10, max_tokens=100
    )
    assert result.usage.tokens <= 1500
    # Every call was charged, and charged its planned bounds, not nothing: the prompt bound
    # in, and out the cap it was sent (the reply, cut at the cap, has more bytes than that).
    assert result.usage.calls == len(model.calls) == len(result.ledger) >= 1
    assert not any(entry["usage_reported"] for entry in result.ledger)
    assert all(entry["tokens_in"] > 0 for entry in result.ledger)
    assert sorted(entry["tokens_out"] for entry in result.ledger) == sorted(
        call["max_tokens"] for call in model.calls
    )
    # The replies hold no answer, so only the budget ends the run; and it ends it only once
    # less is left than one more call needs (its prompt plus RunContext.min_tokens, 32).
    assert result.stop_reason == "budget"
    assert 1500 - result.usage.tokens < result.ledger[-1]["tokens_in"] + 32


async def test_a_model_that_ignores_the_cap_stops_the_run_with_an_overrun() -> None:
    model = CapIgnoringModel(replies=[LONG])
    result = await ponder.asolve(
        "q", model=model, budget=ponder.Budget(tokens=3000), max_samples=10, max_tokens=50
    )
    # The first wave (the greedy sample, drawn alone for the default anchored vote) shows
    # the overrun; no call is made after it.
    assert result.usage.calls == 1
    # The run fails (a top-up would not help a model that ignores its cap), so a persisted
    # run does not pause and the CLI exits non-zero.
    assert (result.stop_reason, result.status) == ("error", "failed")
    assert result.errors[0]["kind"] == "BudgetOverrun"


async def test_ids_stay_unique_when_a_parallel_branch_draws_nothing() -> None:
    def reply(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        if "step by step" in messages[-1].text:
            raise RuntimeError("this prompt always fails")
        return "The answer is 8." if "Python" not in messages[0].text else "print(7)"

    result = await ponder.asolve(
        "3 + 4 =", "adaptive", model=ScriptedChatModel(reply_fn=reply),
        verifier=ponder.ExpectedAnswer("7"), budget=ponder.Budget(tokens=6000),
    )  # fmt: skip
    ids = [c["id"] for c in result.candidates]
    assert len(ids) == len(set(ids))
    assert all(c["parent_id"] != c["id"] for c in result.candidates)
    assert result.answer == "7"


def test_a_hung_sync_verifier_does_not_hold_up_solve() -> None:
    def hangs(problem: str, candidate: Any) -> float:
        time.sleep(30)
        return 1.0

    started = time.monotonic()
    result = ponder.solve(
        "q", "best-of-n", model=ScriptedChatModel(replies=["The answer is 4."]),
        verifier=hangs, verifier_timeout=0.2, n=2,
    )  # fmt: skip
    assert time.monotonic() - started < 10
    assert [c["verdict"] for c in result.candidates] == ["unverified", "unverified"]


async def test_a_sync_reward_cannot_outlive_its_timeout() -> None:
    from ponder.verify import outcome_verifier
    from ponder.verify.verifier import run_verifier

    def slow(problem: str, solution: str) -> float:
        time.sleep(3)
        return 1.0

    started = time.monotonic()
    try:
        await run_verifier(outcome_verifier(slow), "q", {"text": "x"}, timeout=0.2)
    except ponder.VerifierError:
        pass
    assert time.monotonic() - started < 2


async def test_an_extractor_returning_garbage_is_recorded() -> None:
    result = await ponder.asolve(
        "q", model=ScriptedChatModel(replies=["The answer is 4."]),
        extractor=lambda text: ["4"],  # type: ignore[arg-type,return-value]
        max_samples=2,
    )  # fmt: skip
    assert result.answer is None
    assert result.errors[0]["kind"] == "ExtractorError"


async def test_a_node_that_raises_keeps_what_was_gathered() -> None:
    def first(state: RunState) -> dict[str, Any]:
        return {"answer": "partial"}

    def broken(state: RunState) -> dict[str, Any]:
        raise RuntimeError("node bug")

    graph = StateGraph(RunState, context_schema=RunContext)
    graph.add_node("first", first)
    graph.add_node("broken", broken)
    graph.add_edge(START, "first")
    graph.add_edge("first", "broken")
    graph.add_edge("broken", END)
    values = await drive(
        graph.compile(), {"problem": "q", "budget": ponder.Budget(calls=1).to_limits()},
        config={}, context=RunContext(model=ScriptedChatModel(replies=["x"])),
    )  # fmt: skip
    assert values["answer"] == "partial"
    assert values["status"] == "failed"
    # The record's kind is one of ponder's error classes; the original type is in the message.
    assert values["errors"][-1]["kind"] == "NodeError"
    assert values["errors"][-1]["message"] == "RuntimeError: node bug"
    result = result_from(values, strategy="mine", wall_seconds=0.0)
    with pytest.raises(NodeError, match="RuntimeError: node bug"):
        result.raise_for_status()


async def test_a_budget_too_small_for_one_call_says_so() -> None:
    result = await ponder.asolve(
        "A long problem statement " * 20, model=ScriptedChatModel(replies=["4"]),
        budget=ponder.Budget(tokens=100),
    )  # fmt: skip
    assert result.candidates == []
    assert result.errors[0]["kind"] == "BudgetExceeded"
    assert "cannot afford a single call" in result.errors[0]["message"]


class NegativeUsageModel(ScriptedChatModel):
    """Reports usage that would hand budget back."""

    def _result(self, messages: list[BaseMessage], reply: Any, kwargs: dict[str, Any]) -> Any:
        result = super()._result(messages, reply, kwargs)
        message: Any = result.generations[0].message
        message.usage_metadata = {
            "input_tokens": -5000,
            "output_tokens": -50,
            "total_tokens": -5050,
        }
        return result


async def test_negative_usage_is_charged_as_unreported() -> None:
    model = NegativeUsageModel(replies=["The answer is 4. " + " ".join(["x"] * 30)])
    result = await ponder.asolve(
        "q", model=model, budget=ponder.Budget(tokens=1000), max_samples=40, agreement=1.0
    )
    assert result.usage.tokens <= 1000
    assert all(e["tokens_in"] > 0 and e["tokens_out"] > 0 for e in result.ledger)
    assert not any(e["usage_reported"] for e in result.ledger)
    assert 1 < result.usage.calls < 40  # the bounds, not the negative report, were charged


async def test_a_persisted_run_fails_instead_of_pausing_on_an_overrun(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
    result = await ponder.asolve(
        "q", model=CapIgnoringModel(replies=[LONG]), budget=ponder.Budget(tokens=3000),
        max_samples=10, max_tokens=50, db=db,
    )  # fmt: skip
    assert (result.status, result.stop_reason) == ("failed", "error")
    (record,) = await ponder.runs.alist_runs(db=db)
    assert record["status"] == "failed"


class SyncOnlyModel(BaseChatModel):
    """A chat model with only a blocking ``_generate`` (no async calls of its own)."""

    delay: float = 1.5

    @property
    def _llm_type(self) -> str:
        return "sync-only"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:  # fmt: skip
        time.sleep(self.delay)
        message = AIMessage(content="The answer is 4.")
        return ChatResult(generations=[ChatGeneration(message=message)])


def test_a_sync_only_model_cut_off_at_its_deadline_does_not_hold_up_solve() -> None:
    started = time.monotonic()
    result = ponder.solve("q", model=SyncOnlyModel(), call_timeout=0.3, max_samples=3)
    took = time.monotonic() - started
    assert result.errors and result.errors[0]["kind"] == "ModelTimeout"
    assert took < 1.4  # the blocked threads (1.5 s each) are abandoned, not joined


@pytest.mark.embedded
async def test_a_prompt_past_the_context_window_is_refused_and_charged_nothing() -> None:
    from ponder.models import EmbeddedChatModel

    small = EmbeddedChatModel.from_name("smollm2", n_ctx=64)
    result = await ponder.asolve("word " * 200, model=small, budget=ponder.Budget(tokens=100_000))
    assert result.ledger == [] and result.usage.tokens == 0
    assert (result.stop_reason, result.errors[0]["kind"]) == ("error", "ModelError")
    assert "context window of 64" in result.errors[0]["message"]
