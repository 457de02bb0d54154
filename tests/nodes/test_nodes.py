from __future__ import annotations

from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph

import ponder
from ponder.budget import Budget, Usage
from ponder.context import RunContext
from ponder.nodes.attempt import AttemptTask, attempt_branch_node, fan_out_attempts
from ponder.nodes.difficulty import difficulty_node
from ponder.nodes.judge import judge_node
from ponder.nodes.select import weighted_tally
from ponder.prompts import ATTEMPT_PROMPTS, PROGRAM
from ponder.state import RunState
from ponder.testing import ScriptedChatModel
from ponder.verify.score import parse_score


async def run_node(node: Any, state: dict[str, Any], model: ScriptedChatModel, **ctx: Any) -> Any:
    graph = StateGraph(RunState, context_schema=RunContext)
    graph.add_node("node", node)
    graph.add_edge(START, "node")
    graph.add_edge("node", END)
    base = {"problem": "3 + 4 =", "budget": Budget(tokens=5000).to_limits()}
    compiled: Any = graph.compile()
    return await compiled.ainvoke({**base, **state}, context=RunContext(model=model, **ctx))


async def test_probe_difficulty_is_disagreement() -> None:
    model = ScriptedChatModel(replies=["The answer is 7.", "The answer is 8.", "The answer is 7."])
    out = await run_node(difficulty_node("probe", probe_samples=3), {}, model)
    assert out["difficulty"] == pytest.approx(1 / 3)
    assert [c["kind"] for c in out["candidates"]] == ["probe"] * 3


async def test_rating_difficulty_parses_the_number() -> None:
    out = await run_node(difficulty_node("rating"), {}, ScriptedChatModel(replies=["7"]))
    assert out["difficulty"] == pytest.approx(6 / 9)


async def test_unusable_rating_is_recorded() -> None:
    out = await run_node(difficulty_node("rating"), {}, ScriptedChatModel(replies=["hard!"]))
    assert out["difficulty"] == 0.5
    assert out["errors"][0]["kind"] == "ModelOutputError"


async def test_judge_scores_from_text_and_records_unusable_judgments() -> None:
    seed = await ponder.asolve(
        "q", model=ScriptedChatModel(replies=["The answer is 7."]), max_samples=2
    )
    model = ScriptedChatModel(replies=["Score: 9", "I cannot tell."])
    out = await run_node(judge_node(), {"candidates": seed.candidates}, model)
    first, second = out["candidates"]
    assert (first["verdict"], first["score"]) == ("accepted", pytest.approx(0.9))
    assert second["verdict"] == "unverified" and second["score"] is None
    assert "unusable judgment" in second["reason"]
    assert len(out["ledger"]) == 2


def test_parse_score_variants() -> None:
    assert parse_score("Score: 7", scale=10) == pytest.approx(0.7)
    assert parse_score("I'd give it 10/10", scale=10) == 1.0
    assert parse_score("Score: 42", scale=10) is None
    assert parse_score("4", scale=10, low=1) == pytest.approx(3 / 9)


def test_weighted_tally_sums_scores() -> None:
    def cand(answer: str, score: float | None) -> Any:
        return {"answer": answer, "score": score}

    votes = weighted_tally([cand("7", 0.9), cand("8", 0.2), cand("8", 0.3), cand("9", None)])
    assert votes == {"7": 0.9, "8": pytest.approx(0.5)}


async def test_fan_out_splits_the_budget_between_branches() -> None:
    prompts = [ATTEMPT_PROMPTS["few_shot"], ATTEMPT_PROMPTS["step_by_step"], PROGRAM]
    model = ScriptedChatModel(replies=["The answer is 7."])
    context = RunContext(model=model)
    state: Any = {"problem": "3 + 4 =", "budget": Budget(tokens=3000, calls=2).to_limits()}

    class Runtime:
        def __init__(self) -> None:
            self.context = context

    sends = fan_out_attempts(prompts)(state, Runtime())  # type: ignore[arg-type]
    assert len(sends) == 2  # two calls left: only two branches
    tasks: list[AttemptTask] = [send.arg for send in sends]
    assert [t["index"] for t in tasks] == [0, 1]
    assert all(t["allowance"]["calls"] == 1 for t in tasks)
    assert sum(t["allowance"]["tokens"] or 0 for t in tasks) <= 3000
    branch = attempt_branch_node({p.name: p for p in prompts}, temperature=0.5, max_tokens=50)
    update = await branch(tasks[0], runtime=Runtime())  # type: ignore[arg-type]
    assert update["candidates"][0]["id"] == "c0"


def test_budget_share_never_exceeds_what_remains() -> None:
    budget = Budget(tokens=1000, calls=5, seconds=30.0)
    shares = budget.share(Usage(tokens_in=100, calls=1), 3)
    assert len(shares) == 3
    assert sum(s.tokens or 0 for s in shares) <= 900
    assert sum(s.calls or 0 for s in shares) <= 4
    assert all(s.seconds == 30.0 for s in shares)
    assert Budget(calls=2).share(Usage(calls=2), 3) == []


async def test_time_waiting_for_a_call_slot_counts_against_the_seconds_budget() -> None:
    import time

    from ponder.nodes._call import CallRequest, call_models

    model = ScriptedChatModel(replies=["The answer is 1."], delay=0.6)
    context = RunContext(model=model, max_concurrent_calls=2)
    requests = [
        CallRequest(messages=[], candidate_id=f"c{i}", max_tokens=8, temperature=0.0, seed=i)
        for i in range(4)
    ]
    started = time.monotonic()
    results = await call_models(context, Budget(seconds=1.0), Usage(), requests, node="t")
    assert time.monotonic() - started < 1.0 + 0.3  # the second pair cannot take another 0.6 s
    assert [r.error is None for r in results[:2]] == [True, True]
    assert all(r.entry is not None for r in results)  # every call made is on the ledger
    late = [r for r in results[2:] if r.error is not None]
    assert late and all(r.stop_reason == "budget" for r in late)


async def test_a_failed_call_in_a_tree_layer_keeps_the_calls_after_it() -> None:
    from ponder.nodes.expand import expand_node

    def reply(messages: list[Any], kwargs: dict[str, Any]) -> str:
        if kwargs["seed"] == 1:
            raise RuntimeError("one call of the layer fails")
        return "Step: add them."

    model = ScriptedChatModel(reply_fn=reply)
    state = await run_node(expand_node(branching=3), {"candidates": []}, model, seed=0)
    assert len(state["ledger"]) == 3  # the failed call and the one after it are charged
    assert [c["id"] for c in state["candidates"]] == ["c0", "c2"]
    assert state["stop_reason"] == "error"
